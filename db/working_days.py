"""A provider's working day as the route planner sees it (geo.day_plan): the date's opening
hours, the commitments already made that day, the break, and the places in between, on
the provider's clock.

Times become seconds from the instant the local day begins, reckoned in UTC, so a day
with a clock change has its real length and 08:00 is 08:00 on the wall either side.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.commitments import Drive, day_bounds, day_in_order
from db.hours import opening_intervals
from db.models import Availability, AvailabilityException, Provider
from geo.day_plan import Day, Fixed, Rest, Solver, Step, Visit, working_day
from geo.distance import Point
from geo.travel import DistanceMatrix, TravelTimes


@dataclass(frozen=True, slots=True)
class DayRules:
    """The deployment's day where a provider's own calendar is silent (ROUTE_DAY_*,
    ROUTE_BREAK_*: app.routes.queries.day_rules)."""

    default_hours: tuple[time, time]
    """The shift of a provider who has set no weekly hours."""
    break_minutes: int
    break_window: tuple[time, time]


@dataclass(frozen=True, slots=True)
class Travel:
    """How a provider's day runs: the drives between places (on the roads where a network
    is loaded and covers them, else along the great circle at ROUTE_SPEED_KMH), and the
    deployment's day.

    The calendar's check of travel between a booking and its neighbours (`drives`) reads
    the same matrix, which reckons each pair as the free slots do in SQL (migration 0016's
    travel_seconds): a slot offered is a slot a booking takes."""

    matrix: Callable[[AsyncSession], DistanceMatrix]
    """The matrix that reads in a session's transaction."""
    rules: DayRules
    solver: Solver | None = None
    """Proposes each day's plan (geo.day_plan checks it); None: cheapest insertion."""

    async def drives(self, session: AsyncSession, places: Sequence[Point]) -> list[Drive]:
        """How long driving from each place to the next takes, rounded up to the second
        as free slots reckon it."""
        times = await self.matrix(session).between(list(places))
        return [
            Drive(timedelta(seconds=whole_seconds(times.seconds[a][a + 1])), times.by(a, a + 1))
            for a in range(len(places) - 1)
        ]


def whole_seconds(seconds: float) -> int:
    """A drive as plans and the calendar count it: rounded up to the second."""
    return math.ceil(seconds)


class LocalClock:
    """Seconds from the start of one local day of a time zone, and back."""

    def __init__(self, day: date, timezone: str) -> None:
        self.day, self.zone = day, ZoneInfo(timezone)
        self.midnight = datetime.combine(day, time(0), self.zone).astimezone(UTC)

    def seconds(self, at: time) -> int:
        local = datetime.combine(self.day, at, self.zone)
        return int((local.astimezone(UTC) - self.midnight).total_seconds())

    def instant(self, seconds: int) -> datetime:
        return (self.midnight + timedelta(seconds=seconds)).astimezone(self.zone)


@dataclass(frozen=True, slots=True)
class OrderVisit:
    """An order as a day plans it."""

    order_id: int
    point: Point
    service_minutes: int
    arrive_after: time | None
    arrive_before: time | None
    planned_at: datetime | None = None
    """When a route's visit starts now, for a change that keeps the visits' order."""


@dataclass(frozen=True)
class DayModel:
    """A day to plan: geo.day_plan's Day, and what its nodes and visits stand for."""

    day: Day
    clock: LocalClock
    places: list[Point]
    """By node: the start, the end (when the day has one), the commitments, the orders."""
    times: TravelTimes
    orders: dict[Visit, OrderVisit]

    def as_planned(self, visits: Sequence[Visit]) -> list[Step] | None:
        """The visits and the fixed steps in the time order the visits are planned in now;
        None unless every visit has a time and `visits` keeps their order."""
        times = [self.orders[visit].planned_at for visit in visits]
        known = [at for at in times if at is not None]
        if len(known) < len(visits) or known != sorted(known):
            return None
        starts = {visit: _at(self.clock, at) for visit, at in zip(visits, known, strict=True)}
        steps: list[Step] = [*self.day.fixed, *visits]
        return sorted(steps, key=lambda s: s.start_s if isinstance(s, Fixed) else starts[s])


class ClosedDayError(Exception):
    """The provider does not work on the date."""


async def model_day(
    session: AsyncSession,
    provider: Provider,
    day: date,
    travel: Travel,
    ends: tuple[Point, Point | None],
    orders: Sequence[OrderVisit],
    route_id: int | None = None,
    not_before: datetime | None = None,
    rested: bool = False,
) -> DayModel:
    """The provider's `day` from `ends[0]` to `ends[1]` (None: open) with these orders,
    around its commitments that are not route `route_id`'s visits, from `not_before` on
    (and without a break if `rested`). ClosedDayError if the provider has no hours left
    that day. Hold the day's lock, so the commitments stay."""
    clock = LocalClock(day, provider.timezone)
    earliest = None if not_before is None else _at(clock, not_before)
    opening = [
        (opens if earliest is None else max(opens, earliest), closes)
        for opens, closes in (
            (clock.seconds(opens), clock.seconds(closes))
            for opens, closes in await _hours(session, provider.id, day, travel.rules)
        )
        if earliest is None or closes > earliest
    ]
    if not opening:
        raise ClosedDayError(f"provider {provider.id} has no hours left on {day}")
    taken = [
        placed
        for placed, own in await day_in_order(
            session, provider.id, day_bounds(day, provider.timezone), route_id
        )
        if not own and (not_before is None or placed.end > not_before)
    ]
    start, end = ends
    places = [start, *([end] if end else []), *(c.place for c in taken), *(o.point for o in orders)]
    times = await travel.matrix(session).between(places)
    drives = [[whole_seconds(seconds) for seconds in row] for row in times.seconds]
    first_taken = 2 if end else 1
    commitments = [
        Fixed(_at(clock, c.start), _at(clock, c.end), first_taken + n) for n, c in enumerate(taken)
    ]
    first_order = first_taken + len(taken)
    shift = (opening[0][0], opening[-1][1])
    visits = {
        Visit(first_order + n, order.service_minutes * 60, _window(clock, order, shift)): order
        for n, order in enumerate(orders)
    }
    rest = None if rested else _rest(clock, provider, travel.rules)
    planned = working_day(drives, opening, commitments, list(visits), rest, 1 if end else None)
    return DayModel(planned, clock, places, times, visits)


def _at(clock: LocalClock, instant: datetime) -> int:
    return int((instant.astimezone(UTC) - clock.midnight).total_seconds())


def _window(clock: LocalClock, order: OrderVisit, shift: tuple[int, int]) -> tuple[int, int]:
    """When the visit may start: its window of arrival, inside the shift."""
    after = shift[0] if order.arrive_after is None else clock.seconds(order.arrive_after)
    before = shift[1] if order.arrive_before is None else clock.seconds(order.arrive_before)
    return max(after, shift[0]), min(before, shift[1])


def _rest(clock: LocalClock, provider: Provider, rules: DayRules) -> Rest | None:
    if provider.break_minutes is not None and provider.break_from and provider.break_until:
        minutes, window = provider.break_minutes, (provider.break_from, provider.break_until)
    else:
        minutes, window = rules.break_minutes, rules.break_window
    if minutes == 0:
        return None
    return Rest(minutes * 60, (clock.seconds(window[0]), clock.seconds(window[1])))


async def _hours(
    session: AsyncSession, provider_id: int, day: date, rules: DayRules
) -> list[tuple[time, time]]:
    """The provider's opening intervals that day; the deployment's default hours for a
    provider who has set neither weekly hours nor an exception for the day."""
    intervals = await opening_intervals(session, provider_id, day)
    if intervals:
        return sorted(intervals)
    has_hours = await session.scalar(
        select(exists().where(Availability.provider_id == provider_id))
    )
    if has_hours or await _closed_by_exception(session, provider_id, day):
        return []
    return [rules.default_hours]


async def _closed_by_exception(session: AsyncSession, provider_id: int, day: date) -> bool:
    closed = select(AvailabilityException.id).where(
        AvailabilityException.provider_id == provider_id, AvailabilityException.date == day
    )
    return bool(await session.scalar(select(exists(closed))))
