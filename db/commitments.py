"""A provider's one timeline (migrations 0010 and 0011): every booking and every planned
visit of a route holds a range of the provider's time at a place, and PostgreSQL refuses
two active ones that overlap (SQLSTATE 23P01), whichever code path writes them. The
constraint cannot see travel: a write that adds a commitment locks the provider's day and
checks the drives to and from its neighbours under that lock. This module says what a
refused write ran into."""

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import false, func, or_, select, text
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Commitment, CommitmentKind, RouteStop
from geo.distance import Point
from geo.travel import TravelBy

EXCLUSION_VIOLATION = "23P01"
# Two transactions inserting overlapping commitments at the same moment can each find the
# other's row in flight and wait for it; PostgreSQL ends the deadlock by failing one of them
# (after deadlock_timeout). The other's commitment then commits: the time is taken.
DEADLOCK_DETECTED = "40P01"


@dataclass(frozen=True, slots=True)
class Clash:
    """The commitment a write ran into: what it is and when, nothing of whose it is."""

    kind: CommitmentKind
    start: datetime
    end: datetime

    @classmethod
    def on_clock(
        cls, kind: CommitmentKind, start: datetime, end: datetime, timezone: str
    ) -> "Clash":
        """The clash with its times in the provider's time zone."""
        zone = ZoneInfo(timezone)
        return cls(kind, start.astimezone(zone), end.astimezone(zone))

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


class Drive(NamedTuple):
    """How long a drive takes, and what measured it."""

    time: timedelta
    travel: TravelBy

    @property
    def minutes(self) -> int:
        return math.ceil(self.time.total_seconds() / 60)


class TimeTakenError(Exception):
    """A write would overlap an active commitment of the same provider."""

    def __init__(self, message: str, clash: Clash | None, drive: Drive | None = None) -> None:
        super().__init__(message)
        self.clash = clash
        self.drive = drive

    @property
    def extra(self) -> dict[str, Any] | None:
        if self.clash is None:
            return None
        extra: dict[str, Any] = {"conflict": self.clash.as_dict()}
        if self.drive is not None:
            extra |= {"drive_minutes": self.drive.minutes, "travel": self.drive.travel.value}
        return extra


def is_overlap(error: DBAPIError) -> bool:
    """Whether a write failed because its time was taken (or a race for it was lost)."""
    return getattr(error.orig, "sqlstate", None) in (EXCLUSION_VIOLATION, DEADLOCK_DETECTED)


@dataclass(frozen=True, slots=True)
class TimeTaken:
    """What a write takes of a provider's time, to name what it ran into if refused."""

    provider_id: int
    start: datetime
    end: datetime
    timezone: str
    """The provider's, for the times a refusal names."""
    route_id: int | None = None
    """The route whose own visits the write moves (they are not what it ran into)."""


@asynccontextmanager
async def taking(
    session: AsyncSession, time: TimeTaken, *, row_by_row: bool = False
) -> AsyncIterator[None]:
    """The block's writes take `time`: an overlap with another active commitment of the
    provider becomes a TimeTakenError naming it (the transaction is then rolled back).
    `row_by_row`: the block moves several commitments one row at a time (a re-planned
    route) and may pass through overlaps among them: the check waits for its end."""
    try:
        if row_by_row:
            await session.execute(_DEFER)
        yield
        if row_by_row:
            await session.execute(_CHECK_NOW)
    except DBAPIError as error:
        if not is_overlap(error):
            raise
        await session.rollback()
        raise _taken(await clash_with(session, time), time) from None


_DEFER = text("SET CONSTRAINTS commitments_no_overlap DEFERRED")
_CHECK_NOW = text("SET CONSTRAINTS commitments_no_overlap IMMEDIATE")


async def clash_with(session: AsyncSession, time: TimeTaken) -> Clash | None:
    """The earliest active commitment of the provider that overlaps `time`, its times in
    the provider's time zone (not one of the route's own visits when `time` names one)."""
    during = Range(time.start, time.end, bounds="[)")
    statement = (
        select(Commitment.kind, func.lower(Commitment.during), func.upper(Commitment.during))
        .where(
            Commitment.provider_id == time.provider_id,
            Commitment.active,
            Commitment.during.op("&&")(during),
        )
        .order_by(func.lower(Commitment.during))
        .limit(1)
    )
    if time.route_id is not None:
        own_visits = select(RouteStop.id).where(RouteStop.route_id == time.route_id)
        statement = statement.where(
            or_(Commitment.route_stop_id.is_(None), Commitment.route_stop_id.not_in(own_visits))
        )
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    kind, start, end = row
    return Clash.on_clock(kind, start, end, time.timezone)


def _taken(clash: Clash | None, time: TimeTaken) -> TimeTakenError:
    """The error of a write of `time` refused for `clash` (None: what took the time is not
    to be seen yet, as when the write lost a deadlock to it)."""
    if clash is None:
        zone = ZoneInfo(time.timezone)
        start, end = time.start.astimezone(zone), time.end.astimezone(zone)
        said = f"the provider's time from {start.isoformat()} to {end.isoformat()} was taken"
    else:
        said = (
            f"the provider has a {clash.kind.value} from {clash.start.isoformat()}"
            f" to {clash.end.isoformat()}"
        )
    return TimeTakenError(f"{said}; choose another time", clash)


class Drives(Protocol):
    async def drives(self, session: AsyncSession, places: Sequence[Point]) -> list[Drive]:
        """How long driving from each place to the next takes (read in the session's
        transaction)."""
        ...


class Placed(NamedTuple):
    """An active commitment, where it happens."""

    kind: CommitmentKind
    start: datetime
    end: datetime
    place: Point


class TooFarError(TimeTakenError):
    """The provider could not drive between a write's visit and a neighbouring one."""


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """When the provider's `day` starts and the next one does, on their clock."""
    zone = ZoneInfo(timezone)
    return (
        datetime.combine(day, time_of_day(0), zone),
        datetime.combine(day + timedelta(days=1), time_of_day(0), zone),
    )


async def lock_day(session: AsyncSession, provider_id: int, day: date) -> None:
    """Take the provider's `day` until the transaction ends: writes that add commitments to
    it take turns, so that each checks travel against its neighbours as they stand. A write
    waits its turn up to the statement timeout, not the lock timeout (migration 0017)."""
    await session.execute(select(func.lock_provider_day(provider_id, day)))


async def day_in_order(
    session: AsyncSession, provider_id: int, day: tuple[datetime, datetime], route_id: int | None
) -> list[tuple[Placed, bool]]:
    """The provider's active commitments starting that day, in time order, each with
    whether it is a visit of route `route_id`."""
    start = func.lower(Commitment.during)
    of_route = false() if route_id is None else RouteStop.route_id == route_id
    rows = await session.execute(
        select(
            Commitment.kind,
            start,
            func.upper(Commitment.during),
            Commitment.latitude,
            Commitment.longitude,
            of_route,
        )
        .outerjoin(RouteStop, RouteStop.id == Commitment.route_stop_id)
        .where(
            Commitment.provider_id == provider_id,
            Commitment.active,
            start >= day[0],
            start < day[1],
        )
        .order_by(start)
    )
    return [(Placed(k, s, e, Point(lat, lng)), bool(mine)) for k, s, e, lat, lng, mine in rows]


async def _check_beside(
    session: AsyncSession, in_order: Sequence[tuple[Placed, bool]], time: TimeTaken, drives: Drives
) -> None:
    """TooFarError unless the provider can drive between each commitment the write adds
    (marked True) and the others beside it, within the gaps. One matrix for all of them:
    the day's lock is held meanwhile."""
    beside = [
        index for index in range(1, len(in_order)) if in_order[index - 1][1] != in_order[index][1]
    ]
    if not beside:
        return
    path = sorted({index - 1 for index in beside} | set(beside))
    legs = await drives.drives(session, [in_order[index][0].place for index in path])
    drive_to = dict(zip(path[1:], legs, strict=True))
    for index in beside:
        (before, _), (after, after_mine) = in_order[index - 1], in_order[index]
        drive = drive_to[index]
        if before.end + drive.time > after.start:
            other, arriving = (before, True) if after_mine else (after, False)
            raise _too_far(other, drive, time, arriving=arriving)


async def check_drives(
    session: AsyncSession,
    time: TimeTaken,
    place: Point,
    day: tuple[datetime, datetime],
    drives: Drives,
) -> None:
    """TooFarError unless the provider can drive from the commitment before `time` to
    `place` and from there to the one after, within the gaps (one that overlaps `time` is
    the exclusion constraint's to refuse). Hold the day's lock."""
    others = [
        (placed, False)
        for placed, _ in await day_in_order(session, time.provider_id, day, None)
        if placed.end <= time.start or placed.start >= time.end
    ]
    added = Placed(CommitmentKind.booking, time.start, time.end, place)
    in_order = sorted([*others, (added, True)], key=lambda p: p[0].start)
    await _check_beside(session, in_order, time, drives)


def _too_far(other: Placed, drive: Drive, time: TimeTaken, arriving: bool) -> TooFarError:
    clash = Clash.on_clock(other.kind, other.start, other.end, time.timezone)
    if arriving:
        said = (
            f"the provider cannot arrive in time: coming from a {other.kind.value} that ends at"
            f" {clash.end.isoformat()}, {drive.minutes} minutes' drive away"
        )
    else:
        said = (
            f"the provider could not reach the {other.kind.value} that starts at"
            f" {clash.start.isoformat()}, {drive.minutes} minutes' drive away"
        )
    return TooFarError(f"{said}; choose another time", clash, drive)


async def check_route_drives(
    session: AsyncSession,
    route_id: int,
    time: TimeTaken,
    day: tuple[datetime, datetime],
    drives: Drives,
) -> None:
    """TooFarError unless the provider can drive between each visit of the route and the
    commitments beside it that are not the route's, that day (the route's own legs are
    its schedule's). Hold the day's lock."""
    in_order = await day_in_order(session, time.provider_id, day, route_id)
    await _check_beside(session, in_order, time, drives)
