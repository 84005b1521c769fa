"""Bookings: visits that no other active commitment of the same provider (a booking, or a
planned visit of a route) may overlap.

The guarantee is the exclusion constraint over the provider's commitments (db.commitments),
not this code. Two transactions that insert overlapping active bookings cannot both commit:
the second waits for the first and fails with SQLSTATE 23P01. So a booking is a plain
INSERT under READ COMMITTED, with no check for overlaps beforehand and no retry loop. (The
provider row is read FOR SHARE, but only to hold its opening hours still; see _offer.)
Each change notifies the other party in the same transaction.
"""

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from db.commitments import Drives, TimeTaken, check_drives, day_bounds, lock_day, taking
from db.hours import opening_intervals
from db.models import ACTIVE_BOOKING, Booking, BookingStatus, Provider, Service
from db.notifications import NotificationKind, notify
from db.pages import Page
from geo.cursor import TimeKey
from geo.distance import Point
from geo.opening_hours import LocalVisit


class BookingRuleError(Exception):
    """The booking breaks a business rule (unknown service, outside hours, in the past)."""


class BookingConflictError(Exception):
    """The booking's state or the provider's calendar does not allow the change."""


class NotTheProviderError(Exception):
    pass


class Side(enum.StrEnum):
    """Which side of their bookings a user looks at."""

    customer = "customer"
    provider = "provider"


@dataclass(frozen=True, slots=True)
class BookingRequest:
    provider_id: int
    service_id: int
    start: datetime
    horse_name: str
    notes: str
    place: Point | None = None
    """The stable visited; None: the provider's own location."""


@dataclass(frozen=True, slots=True)
class _Offer:
    duration: timedelta
    timezone: str
    provider_user_id: int
    home: Point
    """The provider's own location."""


def _clock(hours: list[tuple[time, time]]) -> str:
    if not hours:
        return "closed"
    return ", ".join(f"{opens:%H:%M}-{closes:%H:%M}" for opens, closes in hours)


def _check_lead_time(start: datetime, horizon: timedelta) -> None:
    now = datetime.now(UTC)
    if start <= now:
        raise BookingRuleError("start is in the past")
    if start > now + horizon:
        raise BookingRuleError(f"bookings open at most {horizon.days} days ahead")


async def _offer(session: AsyncSession, provider_id: int, service_id: int) -> _Offer:
    """The service's terms, read under a share lock on its row and its provider's.

    Changes to a provider's hours lock the provider row first (db.hours), so a
    change in flight holds a booking back until it commits, and the booking is checked
    against the hours it commits under; bookings in flight likewise hold a change back.
    Share locks don't conflict, so bookings of one provider never wait for each other.
    """
    row = (
        await session.execute(
            select(
                Service.duration_minutes,
                Provider.timezone,
                Provider.user_id,
                Provider.latitude,
                Provider.longitude,
            )
            .join(Provider, Provider.id == Service.provider_id)
            .where(
                Service.id == service_id,
                Service.provider_id == provider_id,
                Service.is_active,
                Provider.is_active,
            )
            .with_for_update(read=True, of=[Service, Provider])
        )
    ).first()
    if row is None:
        raise BookingRuleError(f"provider {provider_id} offers no service {service_id}")
    home = Point(row.latitude, row.longitude)
    return _Offer(timedelta(minutes=row.duration_minutes), row.timezone, row.user_id, home)


async def _check_opening_hours(
    session: AsyncSession, provider_id: int, start: datetime, end: datetime, timezone: str
) -> LocalVisit:
    """The visit on the provider's clock; BookingRuleError unless it fits that day's hours."""
    visit = LocalVisit.of(start, end, ZoneInfo(timezone))
    if visit is None:
        raise BookingRuleError(f"the visit would run past midnight ({timezone})")
    hours = await opening_intervals(session, provider_id, visit.day)
    if not visit.fits(hours):
        raise BookingRuleError(
            f"{visit.starts:%H:%M}-{visit.ends:%H:%M} on {visit.day} is outside the provider's"
            f" hours that day: {_clock(hours)} ({timezone})"
        )
    return visit


async def _notify(
    session: AsyncSession, user_id: int, kind: NotificationKind, booking: Booking
) -> None:
    await notify(session, user_id, kind, _payload(booking))


def _payload(booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": booking.id,
        "provider_id": booking.provider_id,
        "service_id": booking.service_id,
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "horse_name": booking.horse_name,
        "status": booking.status.value,
    }


async def book(
    session: AsyncSession,
    customer_id: int,
    request: BookingRequest,
    horizon: timedelta,
    drives: Drives,
) -> Booking:
    """Book the visit and notify the provider. TimeTakenError, naming what holds the time,
    if it overlaps another commitment of the provider; TooFarError if the provider could not
    drive to it from the commitment before, or from it to the one after (the transaction is
    then over). Bookings of one provider and day take turns for that check (db.commitments)."""
    _check_lead_time(request.start, horizon)
    offer = await _offer(session, request.provider_id, request.service_id)
    end = request.start + offer.duration
    visit = await _check_opening_hours(
        session, request.provider_id, request.start, end, offer.timezone
    )
    place = request.place or offer.home
    time_taken = TimeTaken(request.provider_id, request.start, end, offer.timezone)
    await lock_day(session, request.provider_id, visit.day)
    await check_drives(session, time_taken, place, day_bounds(visit.day, offer.timezone), drives)
    statement = (
        insert(Booking)
        .values(
            provider_id=request.provider_id,
            customer_id=customer_id,
            service_id=request.service_id,
            horse_name=request.horse_name,
            notes=request.notes,
            during=Range(request.start, end, bounds="[)"),
            latitude=place.latitude,
            longitude=place.longitude,
        )
        .returning(Booking)
    )
    async with taking(session, time_taken):
        booking: Booking = (await session.scalars(statement)).one()
    await _notify(session, offer.provider_user_id, NotificationKind.booking_requested, booking)
    return booking


def _provider_owner() -> Any:
    return select(Provider.user_id).where(Provider.id == Booking.provider_id).scalar_subquery()


def _involves(user_id: int) -> ColumnElement[bool]:
    """The user is the booking's customer or owns its provider."""
    return or_(Booking.customer_id == user_id, _provider_owner() == user_id)


@dataclass(frozen=True, slots=True)
class _Involvement:
    status: BookingStatus
    as_provider: bool


async def _involvement(session: AsyncSession, user_id: int, booking_id: int) -> _Involvement | None:
    """How the user stands to a booking that a change of theirs did not match: asked only
    after the change, to explain it. None if it is not theirs at all."""
    row = (
        await session.execute(
            select(Booking.status, _provider_owner() == user_id).where(
                Booking.id == booking_id, _involves(user_id)
            )
        )
    ).first()
    return None if row is None else _Involvement(*row)


async def cancel(session: AsyncSession, user_id: int, booking_id: int) -> Booking | None:
    """Cancel an active booking that has not started, as its customer or provider; this
    frees the slot. The other party is notified. None if the booking is not the user's."""
    statement = (
        update(Booking)
        .where(
            Booking.id == booking_id,
            _involves(user_id),
            Booking.status.in_(ACTIVE_BOOKING),
            func.lower(Booking.during) > func.now(),
        )
        .values(status=BookingStatus.cancelled, updated_at=func.now())
        .returning(Booking, _provider_owner())
    )
    row = (await session.execute(statement)).first()
    if row is None:
        involvement = await _involvement(session, user_id, booking_id)
        if involvement is None:
            return None
        # Still active, so the start is what stopped it.
        if involvement.status in ACTIVE_BOOKING:
            raise BookingConflictError(f"booking {booking_id} has started: it can't be cancelled")
        raise BookingConflictError(f"booking {booking_id} is already {involvement.status}")
    booking: Booking = row[0]
    provider_user_id: int = row[1]
    other = provider_user_id if user_id == booking.customer_id else booking.customer_id
    await _notify(session, other, NotificationKind.booking_cancelled, booking)
    return booking


async def _provider_sets(
    session: AsyncSession,
    user_id: int,
    booking_id: int,
    change: tuple[str, BookingStatus],
    when: Sequence[ColumnElement[bool]],
    refusal: Callable[[BookingStatus], str],
) -> Booking | None:
    """Make a booking of the user's provider `change` (how it is said, the status it
    sets) while `when` holds. None if the booking is not the user's; NotTheProviderError
    for its customer; BookingConflictError with `refusal(its status)` otherwise."""
    verb, status = change
    statement = (
        update(Booking)
        .where(Booking.id == booking_id, _provider_owner() == user_id, *when)
        .values(status=status, updated_at=func.now())
        .returning(Booking)
    )
    booking = (await session.scalars(statement)).one_or_none()
    if booking is not None:
        return booking
    involvement = await _involvement(session, user_id, booking_id)
    if involvement is None:
        return None
    if not involvement.as_provider:
        raise NotTheProviderError(f"only the provider {verb} a booking")
    raise BookingConflictError(refusal(involvement.status))


async def confirm(session: AsyncSession, user_id: int, booking_id: int) -> Booking | None:
    """Confirm a pending booking of the user's provider; the customer is notified. None if
    the booking is not the user's."""
    booking = await _provider_sets(
        session,
        user_id,
        booking_id,
        ("confirms", BookingStatus.confirmed),
        [Booking.status == BookingStatus.pending],
        lambda now: f"booking {booking_id} is {now}: only pending bookings are confirmed",
    )
    if booking is not None:
        await _notify(session, booking.customer_id, NotificationKind.booking_confirmed, booking)
    return booking


async def complete(session: AsyncSession, user_id: int, booking_id: int) -> Booking | None:
    """Mark an active booking of the user's provider completed once it has started (its
    time is then no longer held: the visit happened). None if the booking is not the
    user's."""

    def refusal(now: BookingStatus) -> str:
        if now in ACTIVE_BOOKING:  # so the start is what stopped it
            return f"booking {booking_id} has not started yet"
        return f"booking {booking_id} is already {now}"

    started = func.lower(Booking.during) <= func.now()
    return await _provider_sets(
        session,
        user_id,
        booking_id,
        ("completes", BookingStatus.completed),
        [Booking.status.in_(ACTIVE_BOOKING), started],
        refusal,
    )


@dataclass(frozen=True, slots=True)
class BookingsQuery:
    """A page of a user's bookings on one side, by start then id."""

    side: Side
    limit: int
    status: BookingStatus | None = None
    starts_from: datetime | None = None
    after: TimeKey | None = None
    """The last item of the previous page."""

    def filters(self) -> list[ColumnElement[bool]]:
        start = func.lower(Booking.during)
        clauses = []
        if self.status is not None:
            clauses.append(Booking.status == self.status)
        if self.starts_from is not None:
            clauses.append(start >= self.starts_from)
        if self.after is not None:
            key = tuple_(literal(self.after.at), literal(self.after.id))
            clauses.append(tuple_(start, Booking.id) > key)
        return clauses


def _by_start(booking: type[Booking]) -> tuple[ColumnElement[Any], ColumnElement[int]]:
    return func.lower(booking.during), booking.id.expression


def bookings_statement(user_id: int, query: BookingsQuery) -> Select[Booking]:
    if query.side is Side.customer:
        return (
            select(Booking)
            .where(Booking.customer_id == user_id, *query.filters())
            .order_by(*_by_start(Booking))
            .limit(query.limit)
        )
    # One index-ordered scan per provider the user owns, each stopping after a page, then
    # a sort of those few rows: the same cost for an owner of one provider or of many.
    owned = select(Provider.id).where(Provider.user_id == user_id).subquery()
    page_per_provider = (
        select(Booking)
        .where(Booking.provider_id == owned.c.id, *query.filters())
        .order_by(*_by_start(Booking))
        .limit(query.limit)
        .lateral()
    )
    booking = aliased(Booking, page_per_provider)
    return (
        select(booking)
        .select_from(owned)
        .join(page_per_provider, true())
        .order_by(*_by_start(booking))
        .limit(query.limit)
    )


async def bookings_page(session: AsyncSession, user_id: int, query: BookingsQuery) -> Page[Booking]:
    one_more = replace(query, limit=query.limit + 1)
    rows = (await session.scalars(bookings_statement(user_id, one_more))).all()
    return Page.of(rows, query.limit)
