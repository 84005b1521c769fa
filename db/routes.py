"""Providers' day routes: claim open orders, put them in visiting order, change and read them.

A route claims its orders by moving them from open to planned in the statement that
locks them, in id order, so two routes racing for an order cannot both get it and cannot
deadlock; the stops' unique index (migration 0004) holds the same rule in the schema.

Whatever changes a planned route locks the orders it changes first, in id order, and the
route last: one lock order for every writer, so none waits on another in a cycle.
"""

import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, delete, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from db.commitments import TimeTaken, check_route_drives, day_bounds, lock_day, taking
from db.models import (
    Provider,
    Route,
    RouteOrder,
    RouteOrderStatus,
    RouteStatus,
    RouteStop,
    RouteStopStatus,
    Service,
)
from db.notifications import NotificationKind, notify, notify_about_order
from db.pages import Page
from db.profiles import owned_provider
from geo.cursor import IdKey
from geo.distance import Point, haversine_m
from geo.routes import DistanceMatrix, Leg, schedule, visiting_order


class RouteRuleError(Exception):
    """An order that can't be planned for that day by that provider, and why."""


class OrderTakenError(Exception):
    """An order another route holds."""


class RouteStateError(Exception):
    """The stop or its route is past the state the change needs."""


@dataclass(frozen=True, slots=True)
class RouteDraft:
    provider_id: int
    day: date
    order_ids: Sequence[int]
    start: Point | None
    optimize: bool


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """How much one provider's day may claim: orders within its service radius of the
    route's start (never beyond `max_radius_km`), at most `max_orders_per_day` of them."""

    max_radius_km: float
    max_orders_per_day: int


@dataclass(frozen=True, slots=True)
class Visits:
    order: list[int]
    """Indexes of the stops, in visiting order."""
    legs_m: list[float]
    """Each visited stop's leg, from the one before or from the start."""


@dataclass(frozen=True, slots=True)
class Travel:
    """How a provider's day runs: when driving starts, how fast it goes, and how far
    apart places are."""

    day_start: time
    speed_kmh: float
    matrix: DistanceMatrix

    async def legs_m(self, start: Point, stops: Sequence[Point], optimize: bool) -> Visits:
        """The stops in visiting order (optimized, or as given), and each one's leg."""
        distances = await self.matrix.between([start, *stops])
        order = visiting_order(distances) if optimize else list(range(len(stops)))
        nodes = [0, *(stop + 1 for stop in order)]
        return Visits(order, [distances[a][b] for a, b in itertools.pairwise(nodes)])

    async def drives(self, places: Sequence[Point]) -> list[timedelta]:
        """How long driving from each place to the next takes, rounded up to the second
        as free slots reckon it in SQL (migration 0012's drive_time)."""
        distances = await self.matrix.between(list(places))
        return [
            timedelta(seconds=math.ceil(distances[a][a + 1] / 1000 / self.speed_kmh * 3600))
            for a in range(len(places) - 1)
        ]

    def arrivals(
        self, day: date, timezone: str, legs_m: Sequence[float], service_minutes: Sequence[int]
    ) -> list[Leg]:
        """When each stop is reached, driving from the day's start on the provider's clock."""
        day_start = datetime.combine(day, self.day_start, ZoneInfo(timezone))
        return schedule(legs_m, service_minutes, day_start, self.speed_kmh)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    customer_id: int
    category: str
    point: Point
    horses: int
    arrive_after: time | None
    arrive_before: time | None


async def plan_route(
    session: AsyncSession, owner_id: int, draft: RouteDraft, travel: Travel, limits: PlanLimits
) -> int | None:
    """The new route's id; None if the provider is not one of the owner's.

    Raises OrderTakenError or RouteRuleError, naming the first order at fault (or the
    day, when it has passed or is full); the caller's transaction then holds nothing of
    the route.
    """
    provider = await owned_provider(session, owner_id, draft.provider_id)
    if provider is None:
        return None
    if draft.day < datetime.now(ZoneInfo(provider.timezone)).date():
        raise RouteRuleError(f"{draft.day} has passed ({provider.timezone})")
    orders = await _claim(session, draft)
    start = draft.start or Point(provider.latitude, provider.longitude)
    _check_reach(provider, start, orders, limits.max_radius_km)
    minutes = await _service_minutes(session, provider.id, orders)
    visits = await travel.legs_m(start, [order.point for order in orders], draft.optimize)
    stops = [orders[index] for index in visits.order]
    durations = [minutes[order.category] * order.horses for order in stops]
    arrivals = travel.arrivals(draft.day, provider.timezone, visits.legs_m, durations)
    _check_windows(stops, arrivals, provider.timezone)
    time_taken = _time_of(provider, arrivals, durations)
    await lock_day(session, provider.id, draft.day)
    await _check_day_size(session, provider.id, draft.day, len(stops), limits.max_orders_per_day)
    async with taking(session, time_taken):
        route_id = await _store(session, provider.id, draft.day, start, stops, durations, arrivals)
    day = day_bounds(draft.day, provider.timezone)
    await check_route_drives(session, route_id, time_taken, day, travel)
    for order, arrival in zip(stops, arrivals, strict=True):
        payload = _planned(route_id, provider, order.id, arrival.eta)
        planned = NotificationKind.route_planned
        await notify_about_order(session, order.customer_id, planned, payload, order.id)
    return route_id


class _Windowed(Protocol):
    """An order with a window of arrival (claimed, or a route's stop's)."""

    @property
    def id(self) -> int: ...
    @property
    def arrive_after(self) -> time | None: ...
    @property
    def arrive_before(self) -> time | None: ...


def _check_windows(orders: Sequence[_Windowed], arrivals: Sequence[Leg], timezone: str) -> None:
    """RouteRuleError for the first order the route would reach outside its window, on the
    provider's clock. (The planner does not yet wait for a window, or order the stops by
    them: a plan that misses one is refused.)"""
    zone = ZoneInfo(timezone)
    for order, leg in zip(orders, arrivals, strict=True):
        arrival = leg.eta.astimezone(zone)
        after, before = order.arrive_after, order.arrive_before
        if (after and arrival.time() < after) or (before and arrival.time() > before):
            window = f"{_clock(after)}-{_clock(before)}"
            raise RouteRuleError(
                f"route order {order.id} would be reached at {arrival:%H:%M}, outside its"
                f" window {window} ({timezone})"
            )


def _clock(value: time | None) -> str:
    return "" if value is None else f"{value:%H:%M}"


def _check_reach(
    provider: Provider, start: Point, orders: Sequence[_Claimed], max_radius_km: float
) -> None:
    """RouteRuleError for the first order beyond the provider's service radius (or the
    deployment's limit, if nearer) of the route's start."""
    reach_km = min(provider.service_radius_km, max_radius_km)
    for order in orders:
        distance_km = haversine_m(start, order.point) / 1000
        if distance_km > reach_km:
            raise RouteRuleError(
                f"route order {order.id} is {distance_km:.1f} km from the route's start,"
                f" beyond the provider's reach of {reach_km:g} km"
            )


async def _check_day_size(
    session: AsyncSession, provider_id: int, day: date, adding: int, most: int
) -> None:
    """RouteRuleError if the provider's routes of the day would hold more than `most`
    orders with `adding` more. Hold the day's lock."""
    held = await session.scalar(
        select(func.count())
        .select_from(RouteStop)
        .join(Route, Route.id == RouteStop.route_id)
        .where(
            Route.provider_id == provider_id,
            Route.date == day,
            RouteStop.route_status != RouteStatus.cancelled,
        )
    )
    if (held or 0) + adding > most:
        raise RouteRuleError(
            f"a provider's routes hold at most {most} orders a day; {day} holds {held} already"
        )


async def _store(
    session: AsyncSession,
    provider_id: int,
    day: date,
    start: Point,
    visits: Sequence[_Claimed],
    durations: Sequence[int],
    arrivals: Sequence[Leg],
) -> int:
    route = insert(Route).values(
        provider_id=provider_id,
        date=day,
        start_latitude=start.latitude,
        start_longitude=start.longitude,
        total_distance_m=sum(arrival.distance_m for arrival in arrivals),
    )
    route_id: int = (await session.execute(route.returning(Route.id))).scalar_one()
    stops = [
        {
            "route_id": route_id,
            "route_order_id": order.id,
            "position": position,
            "leg_distance_m": arrival.distance_m,
            "eta": arrival.eta,
            "service_minutes": minutes,
        }
        for position, (order, minutes, arrival) in enumerate(
            zip(visits, durations, arrivals, strict=True)
        )
    ]
    await session.execute(insert(RouteStop), stops)
    return route_id


def _time_of(
    provider: Provider,
    arrivals: Sequence[Leg],
    durations: Sequence[int],
    route_id: int | None = None,
) -> TimeTaken:
    """The provider's time a route's visits take: from the first arrival to the end of the
    last visit."""
    end = arrivals[-1].eta + timedelta(minutes=durations[-1])
    return TimeTaken(provider.id, arrivals[0].eta, end, provider.timezone, route_id)


def _planned(route_id: int, provider: Provider, order_id: int, eta: datetime) -> dict[str, Any]:
    return {
        "route_id": route_id,
        "route_order_id": order_id,
        "provider_id": provider.id,
        "business_name": provider.business_name,
        "eta": eta.isoformat(),
    }


async def _claim(session: AsyncSession, draft: RouteDraft) -> list[_Claimed]:
    """The orders, open and wanted on the day, now planned; in the draft's order."""
    locked = (
        select(RouteOrder.id)
        .where(RouteOrder.id.in_(draft.order_ids))
        .order_by(RouteOrder.id)
        .with_for_update()
    )
    rows = await session.execute(
        update(RouteOrder)
        .where(
            RouteOrder.id.in_(locked),
            RouteOrder.status == RouteOrderStatus.open,
            RouteOrder.earliest <= draft.day,
            RouteOrder.latest >= draft.day,
        )
        .values(status=RouteOrderStatus.planned)
        .returning(
            RouteOrder.id,
            RouteOrder.customer_id,
            RouteOrder.category,
            RouteOrder.latitude,
            RouteOrder.longitude,
            RouteOrder.horses,
            RouteOrder.arrive_after,
            RouteOrder.arrive_before,
        )
    )
    claimed = {
        row.id: _Claimed(
            row.id,
            row.customer_id,
            row.category,
            Point(row.latitude, row.longitude),
            row.horses,
            row.arrive_after,
            row.arrive_before,
        )
        for row in rows
    }
    for order_id in draft.order_ids:
        if order_id not in claimed:
            await _refuse(session, order_id, draft.day)
    return [claimed[order_id] for order_id in draft.order_ids]


async def _refuse(session: AsyncSession, order_id: int, day: date) -> None:
    """Raise why the order could not be claimed for the day."""
    order = await session.get(RouteOrder, order_id)
    if order is None:
        raise RouteRuleError(f"route order {order_id} does not exist")
    if order.status is RouteOrderStatus.planned:
        raise OrderTakenError(f"route order {order_id} is already in a route")
    if order.status is not RouteOrderStatus.open:
        raise RouteRuleError(f"route order {order_id} is {order.status}")
    if order.earliest <= day <= order.latest:
        # Open and wanted that day now, so another route held it when the claim ran, and
        # has let it go since (a re-plan that dropped it): the claim lost the race.
        raise OrderTakenError(f"route order {order_id} was in another route; try again")
    raise RouteRuleError(
        f"route order {order_id} is wanted from {order.earliest} to {order.latest}, not on {day}"
    )


async def _service_minutes(
    session: AsyncSession, provider_id: int, orders: Sequence[_Claimed]
) -> dict[str, int]:
    """How long the provider's visit of each ordered category lasts (its shortest service)."""
    categories = {order.category for order in orders}
    rows = await session.execute(
        select(Service.category, func.min(Service.duration_minutes))
        .where(
            Service.provider_id == provider_id,
            Service.is_active,
            Service.category.in_(categories),
        )
        .group_by(Service.category)
    )
    minutes = {category: int(duration) for category, duration in rows}
    for order in orders:
        if order.category not in minutes:
            raise RouteRuleError(
                f"provider {provider_id} offers no {order.category} service"
                f" for route order {order.id}"
            )
    return minutes


def _owned_routes(owner_id: int) -> Select[Route]:
    """Routes driven by the owner's providers, each with its stops in order and their
    orders: three statements however many routes and stops."""
    return (
        select(Route)
        .join(Provider, Provider.id == Route.provider_id)
        .where(Provider.user_id == owner_id)
        .options(selectinload(Route.stops).selectinload(RouteStop.order))
        # A route changed earlier in the session is read anew, stops and all.
        .execution_options(populate_existing=True)
    )


async def owned_route(session: AsyncSession, owner_id: int, route_id: int) -> Route | None:
    """The route; None unless one of the owner's providers drives it."""
    route: Route | None = await session.scalar(_owned_routes(owner_id).where(Route.id == route_id))
    return route


async def routes_of_day(
    session: AsyncSession, owner_id: int, day: date, after: IdKey | None, limit: int
) -> Page[Route]:
    """The owner's routes on the day, by id; `after` is the last of the previous page."""
    statement = _owned_routes(owner_id).where(Route.date == day)
    if after is not None:
        statement = statement.where(Route.id > after.id)
    rows = (await session.scalars(statement.order_by(Route.id).limit(limit + 1))).all()
    return Page.of(rows, limit)


async def _lock_orders(session: AsyncSession, order_ids: Select[int]) -> None:
    await session.execute(
        select(RouteOrder.id)
        .where(RouteOrder.id.in_(order_ids))
        .order_by(RouteOrder.id)
        .with_for_update()
    )


async def _locked_route(
    session: AsyncSession, route_id: int, owner_id: int | None
) -> tuple[Route, Provider] | None:
    """The route, locked, with its stops and their orders, and its provider; None if there
    is no such route, or `owner_id` is given and is not the provider's."""
    row = (
        await session.execute(
            select(Route, Provider)
            .join(Provider, Provider.id == Route.provider_id)
            .where(Route.id == route_id, _owned_by(owner_id))
            .options(selectinload(Route.stops).selectinload(RouteStop.order))
            .execution_options(populate_existing=True)
            .with_for_update(of=Route)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def _owned_by(owner_id: int | None) -> ColumnElement[bool]:
    return true() if owner_id is None else Provider.user_id == owner_id


def _orders_of_route(route_id: int, owner_id: int) -> Select[int]:
    return (
        select(RouteStop.route_order_id)
        .join(Route, Route.id == RouteStop.route_id)
        .join(Provider, Provider.id == Route.provider_id)
        .where(RouteStop.route_id == route_id, _owned_by(owner_id))
    )


async def change_stops(
    session: AsyncSession, owner_id: int, route_id: int, order_ids: Sequence[int], travel: Travel
) -> bool:
    """Visit the route's stops of `order_ids` in that order and drop the others (their
    orders open again), with legs, arrivals and total anew. False if the owner has no
    such route.

    Raises RouteStateError if the route is done or cancelled, or a dropped visit is done;
    RouteRuleError naming an order that is not one of the route's stops.
    """
    await _lock_orders(session, _orders_of_route(route_id, owner_id))
    locked = await _locked_route(session, route_id, owner_id)
    if locked is None:
        return False
    route, provider = locked
    if route.status is not RouteStatus.planned:
        raise RouteStateError(f"route {route_id} is {route.status}")
    stops = {stop.route_order_id: stop for stop in route.stops}
    for order_id in order_ids:
        if order_id not in stops:
            raise RouteRuleError(f"route order {order_id} is not a stop of route {route_id}")
    kept = set(order_ids)
    dropped = [stop for stop in route.stops if stop.route_order_id not in kept]
    for stop in dropped:
        if stop.status is RouteStopStatus.done:
            raise RouteStateError(f"the visit to route order {stop.route_order_id} is done")
    await lock_day(session, provider.id, route.date)
    await _delete_stops(session, dropped)
    reopened = [stop.route_order_id for stop in dropped]
    await session.execute(
        update(RouteOrder).where(RouteOrder.id.in_(reopened)).values(status=RouteOrderStatus.open)
    )
    for stop in dropped:
        payload = {"route_id": route_id, "route_order_id": stop.route_order_id}
        unplanned = NotificationKind.route_unplanned
        await notify_about_order(
            session, stop.order.customer_id, unplanned, payload, stop.route_order_id
        )
    kept_stops = [stops[order_id] for order_id in order_ids]
    await _reschedule(session, route, provider, kept_stops, travel, keep_windows=True)
    if order_ids:
        day = day_bounds(route.date, provider.timezone)
        time_taken = TimeTaken(provider.id, *day, provider.timezone, route.id)
        await check_route_drives(session, route.id, time_taken, day, travel)
    return True


async def take_off_route(session: AsyncSession, order_id: int, travel: Travel) -> int | None:
    """Take the order's visit off its planned route, if it has one, reschedule the rest and
    tell the provider; the provider's id, whose calendar changed. The caller holds the
    order's lock and sets its status."""
    route_id = await session.scalar(
        select(RouteStop.route_id).where(
            RouteStop.route_order_id == order_id,
            RouteStop.route_status == RouteStatus.planned,
            RouteStop.status == RouteStopStatus.planned,
        )
    )
    locked = None if route_id is None else await _locked_route(session, route_id, None)
    if locked is None:
        return None
    route, provider = locked
    await _delete_stops(session, [s for s in route.stops if s.route_order_id == order_id])
    kept = [stop for stop in route.stops if stop.route_order_id != order_id]
    await _reschedule(session, route, provider, kept, travel)
    payload = {"route_id": route.id, "route_order_id": order_id}
    await notify(session, provider.user_id, NotificationKind.route_order_cancelled, payload)
    return provider.id


async def _delete_stops(session: AsyncSession, stops: Collection[RouteStop]) -> None:
    if stops:
        await session.execute(delete(RouteStop).where(RouteStop.id.in_([s.id for s in stops])))


async def _reschedule(
    session: AsyncSession,
    route: Route,
    provider: Provider,
    stops: Sequence[RouteStop],
    travel: Travel,
    keep_windows: bool = False,
) -> None:
    """Number the stops in the order given, and measure their legs, arrivals and the
    route's total again (RouteRuleError if `keep_windows` and one would be reached outside
    its window). A route left without stops is cancelled, one whose stops are all visited
    is done."""
    points = [stop.order.point for stop in stops]
    visits = await travel.legs_m(route.start, points, optimize=False)
    durations = [stop.service_minutes for stop in stops]
    arrivals = travel.arrivals(route.date, provider.timezone, visits.legs_m, durations)
    if keep_windows:
        _check_windows([stop.order for stop in stops], arrivals, provider.timezone)
    if stops:
        changes = [
            {"id": stop.id, "position": position, "leg_distance_m": leg.distance_m, "eta": leg.eta}
            for position, (stop, leg) in enumerate(zip(stops, arrivals, strict=True))
        ]
        time = _time_of(provider, arrivals, durations, route.id)
        async with taking(session, time, row_by_row=True):
            await session.execute(update(RouteStop), changes)
    if not stops:
        status = RouteStatus.cancelled
    elif all(stop.status is RouteStopStatus.done for stop in stops):
        status = RouteStatus.done
    else:
        status = RouteStatus.planned
    total_m = sum(visits.legs_m)
    await session.execute(
        update(Route).where(Route.id == route.id).values(total_distance_m=total_m, status=status)
    )


async def complete_stop(session: AsyncSession, owner_id: int, route_id: int, order_id: int) -> bool:
    """Mark the visit to `order_id` on the route done, the order with it, and the route
    once no stop is left. False if the owner has no such stop; RouteStateError if the
    stop is done already or its route is cancelled."""
    await _lock_orders(session, select(RouteOrder.id).where(RouteOrder.id == order_id))
    stop = (
        select(RouteStop)
        .join(Route, Route.id == RouteStop.route_id)
        .join(Provider, Provider.id == Route.provider_id)
        .where(
            RouteStop.route_id == route_id,
            RouteStop.route_order_id == order_id,
            Provider.user_id == owner_id,
        )
        .with_for_update(of=Route)
    )
    found: RouteStop | None = await session.scalar(stop)
    if found is None:
        return False
    if found.route_status is RouteStatus.cancelled:
        raise RouteStateError(f"route {route_id} is cancelled")
    if found.status is RouteStopStatus.done:
        raise RouteStateError(f"the visit to route order {order_id} is done already")
    await session.execute(
        update(RouteStop).where(RouteStop.id == found.id).values(status=RouteStopStatus.done)
    )
    await session.execute(
        update(RouteOrder).where(RouteOrder.id == order_id).values(status=RouteOrderStatus.done)
    )
    await session.execute(
        update(Route)
        .where(
            Route.id == route_id,
            ~select(RouteStop.id)
            .where(RouteStop.route_id == route_id, RouteStop.status == RouteStopStatus.planned)
            .exists(),
        )
        .values(status=RouteStatus.done)
    )
    return True
