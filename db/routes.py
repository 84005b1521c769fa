"""Providers' day routes: claim open orders, put them in visiting order, change and read them.

A route claims its orders by moving them from open to planned in the statement that
locks them, in id order, so two routes racing for an order cannot both get it and cannot
deadlock; the stops' unique index (migration 0004) holds the same rule in the schema.

Whatever changes a planned route locks the orders it changes first, in id order, and the
route last: one lock order for every writer, so none waits on another in a cycle.
"""

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
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
from db.working_days import DayModel, OrderVisit, Travel, model_day, whole_seconds
from geo.cursor import IdKey
from geo.day_plan import (
    Reason,
    Timeline,
    Visit,
    cheapest_insertion,
    in_given_order,
    plan_day,
    timeline,
    why_left_out,
)
from geo.distance import Point, haversine_m
from geo.travel import TravelBy, TravelTimes, travel_of


class RouteRuleError(Exception):
    """An order that can't be planned for that day by that provider, and why."""

    def __init__(self, message: str, unassigned: Sequence["LeftOut"] = ()) -> None:
        super().__init__(message)
        self.unassigned = list(unassigned)

    @property
    def extra(self) -> dict[str, Any] | None:
        if not self.unassigned:
            return None
        return {"unassigned": [left.as_dict() for left in self.unassigned]}


@dataclass(frozen=True, slots=True)
class LeftOut:
    """An order a plan could not fit, and why; it stays open."""

    route_order_id: int
    reason: Reason

    def as_dict(self) -> dict[str, Any]:
        return {"route_order_id": self.route_order_id, "reason": self.reason.value}


class OrderTakenError(Exception):
    """An order another route holds."""


class RouteStateError(Exception):
    """The stop or its route is past the state the change needs."""


AT_START: Literal["start"] = "start"


@dataclass(frozen=True, slots=True)
class RouteDraft:
    provider_id: int
    day: date
    order_ids: Sequence[int]
    start: Point | None
    optimize: bool
    end: Point | Literal["start"] | None = AT_START
    """Where the day ends: AT_START (home again), a place, or None (at the last visit)."""


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """How much one provider's day may claim: orders within its service radius of the
    route's start (never beyond `max_radius_km`), at most `max_orders_per_day` of them."""

    max_radius_km: float
    max_orders_per_day: int


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    customer_id: int
    category: str
    point: Point
    horses: int
    arrive_after: time | None
    arrive_before: time | None


@dataclass(frozen=True)
class Planned:
    """A route planned, and the orders left out of it (open again)."""

    route_id: int
    unassigned: list[LeftOut]


async def plan_route(
    session: AsyncSession, owner_id: int, draft: RouteDraft, travel: Travel, limits: PlanLimits
) -> Planned | None:
    """The new route and the orders that did not fit it; None if the provider is not one
    of the owner's.

    Raises OrderTakenError or RouteRuleError, naming the first order at fault (or the
    day, when it has passed, is full, or no order fits it); the caller's transaction
    then holds nothing of the route.
    """
    provider = await owned_provider(session, owner_id, draft.provider_id)
    if provider is None:
        return None
    if draft.day < datetime.now(ZoneInfo(provider.timezone)).date():
        raise RouteRuleError(f"{draft.day} has passed ({provider.timezone})")
    claimed = await _claim(session, draft)
    start = draft.start or Point(provider.latitude, provider.longitude)
    reachable, too_far = _within_reach(provider, start, claimed, limits.max_radius_km)
    minutes = await _service_minutes(session, provider.id, reachable)
    orders = [_order_visit(order, minutes) for order in reachable]
    await lock_day(session, provider.id, draft.day)
    end = start if draft.end == AT_START else draft.end
    model = await model_day(session, provider, draft.day, travel, (start, end), orders)
    if draft.optimize:
        plan = plan_day(model.day, travel.solver)
        driven = None if plan is None else plan.timeline
    else:
        driven = _in_order(model, list(model.orders))
    if driven is None:
        raise RouteRuleError(f"the provider's commitments on {draft.day} leave no day to plan")
    schedule = _schedule(model, driven)
    unassigned = too_far + _left_out(model, driven)
    if not schedule.stops:
        raise RouteRuleError(f"no order fits the provider's day on {draft.day}", unassigned)
    await _reopen(session, [left.route_order_id for left in unassigned])
    await _check_day_size(
        session, provider.id, draft.day, len(schedule.stops), limits.max_orders_per_day
    )
    async with taking(session, schedule.time_taken(provider)):
        route_id = await _store(session, provider.id, draft.day, start, end, schedule)
    day = day_bounds(draft.day, provider.timezone)
    await check_route_drives(session, route_id, schedule.time_taken(provider), day, travel)
    by_id = {order.id: order for order in claimed}
    for stop in schedule.stops:
        payload = _planned(route_id, provider, stop.order.order_id, stop.eta)
        customer = by_id[stop.order.order_id].customer_id
        planned = NotificationKind.route_planned
        await notify_about_order(session, customer, planned, payload, stop.order.order_id)
    return Planned(route_id, unassigned)


def _in_order(model: DayModel, orders: Sequence[Visit]) -> Timeline | None:
    """The visits in the order given: among the commitments as they are planned now if
    that order is theirs (a visit taken off never makes the rest late), else each at its
    cheapest place after the one before. RouteRuleError naming the first that fits
    nowhere, and why."""
    as_planned = model.as_planned(orders)
    if as_planned is not None and (kept := timeline(model.day, as_planned)) is not None:
        return kept
    driven = in_given_order(model.day, list(orders))
    if isinstance(driven, Visit):
        order = model.orders[driven]
        reason = why_left_out(model.day, driven)
        left = LeftOut(order.order_id, reason)
        raise RouteRuleError(
            f"route order {order.order_id} does not fit the day in the order given ({reason})",
            [left],
        )
    return driven


def _left_out(model: DayModel, driven: Timeline) -> list[LeftOut]:
    placed = set(driven.visits())
    return [
        LeftOut(order.order_id, why_left_out(model.day, visit))
        for visit, order in model.orders.items()
        if visit not in placed
    ]


async def _reopen(session: AsyncSession, order_ids: Sequence[int]) -> None:
    if order_ids:
        await session.execute(
            update(RouteOrder)
            .where(RouteOrder.id.in_(order_ids))
            .values(status=RouteOrderStatus.open)
        )


def _order_visit(order: _Claimed, minutes: dict[str, int]) -> OrderVisit:
    return OrderVisit(
        order.id,
        order.point,
        minutes[order.category] * order.horses,
        order.arrive_after,
        order.arrive_before,
    )


@dataclass(frozen=True, slots=True)
class Leg:
    """A drive from wherever the provider was before: the start, a stop or another
    commitment."""

    metres: float
    seconds: int
    travel: TravelBy

    @classmethod
    def of(cls, times: TravelTimes, a: int, b: int) -> "Leg":
        return cls(times.metres[a][b], whole_seconds(times.seconds[a][b]), times.by(a, b))

    def values(self) -> dict[str, Any]:
        """The leg as route_stops columns."""
        return {
            "leg_distance_m": self.metres,
            "leg_seconds": self.seconds,
            "leg_travel": self.travel,
        }


@dataclass(frozen=True, slots=True)
class _Stop:
    order: OrderVisit
    leg: Leg
    eta: datetime
    """When the visit starts (after waiting, if the provider arrives early)."""


@dataclass(frozen=True)
class _Schedule:
    stops: list[_Stop]
    total_m: float
    """Everything the day drives, commitments between the stops and the way to the end
    included."""
    end: Leg | None
    finish: datetime
    break_start: datetime | None
    break_minutes: int | None

    def time_taken(self, provider: Provider, route_id: int | None = None) -> TimeTaken:
        """From the first visit's start to the last one's end."""
        first, last = self.stops[0], self.stops[-1]
        end = last.eta + timedelta(minutes=last.order.service_minutes)
        return TimeTaken(provider.id, first.eta, end, provider.timezone, route_id)

    def route_values(self, before: Sequence[Leg] = ()) -> dict[str, Any]:
        """The route's columns; `before`: the legs to visits made before the schedule."""
        legs = [*before, *(stop.leg for stop in self.stops), *([self.end] if self.end else [])]
        return {
            "total_distance_m": sum(leg.metres for leg in before) + self.total_m,
            "travel": travel_of(leg.travel is TravelBy.roads for leg in legs),
            "end_distance_m": 0.0 if self.end is None else self.end.metres,
            "finish": self.finish,
            "break_start": self.break_start,
            "break_minutes": self.break_minutes,
        }


def _schedule(model: DayModel, driven: Timeline) -> _Schedule:
    """The timeline's visits as stops, with their legs in metres and times as instants."""
    here, total_m, stops = 0, 0.0, []
    for timed in driven.steps:
        node = timed.step.node
        if node is None:
            continue
        leg = Leg.of(model.times, here, node)
        total_m += leg.metres
        here = node
        if isinstance(timed.step, Visit):
            stops.append(_Stop(model.orders[timed.step], leg, model.clock.instant(timed.start_s)))
    end = None if model.day.end is None else Leg.of(model.times, here, model.day.end)
    rest, rest_start = model.day.rest, driven.rest_start_s
    taken = rest is not None and rest_start is not None
    return _Schedule(
        stops,
        total_m + (0.0 if end is None else end.metres),
        end,
        model.clock.instant(driven.finish_s),
        model.clock.instant(rest_start) if rest_start is not None else None,
        rest.length_s // 60 if rest is not None and taken else None,
    )


def _within_reach(
    provider: Provider, start: Point, orders: Sequence[_Claimed], max_radius_km: float
) -> tuple[list[_Claimed], list[LeftOut]]:
    """The orders within the provider's service radius (or the deployment's limit, if
    nearer) of the route's start, and the others as too far."""
    reach_km = min(provider.service_radius_km, max_radius_km)
    within, beyond = [], []
    for order in orders:
        if haversine_m(start, order.point) / 1000 <= reach_km:
            within.append(order)
        else:
            beyond.append(LeftOut(order.id, Reason.too_far))
    return within, beyond


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
    end: Point | None,
    schedule: _Schedule,
) -> int:
    route = insert(Route).values(
        provider_id=provider_id,
        date=day,
        start_latitude=start.latitude,
        start_longitude=start.longitude,
        end_latitude=None if end is None else end.latitude,
        end_longitude=None if end is None else end.longitude,
        **schedule.route_values(),
    )
    route_id: int = (await session.execute(route.returning(Route.id))).scalar_one()
    stops = [
        {
            "route_id": route_id,
            "route_order_id": stop.order.order_id,
            "position": position,
            **stop.leg.values(),
            "eta": stop.eta,
            "service_minutes": stop.order.service_minutes,
        }
        for position, stop in enumerate(schedule.stops)
    ]
    await session.execute(insert(RouteStop), stops)
    return route_id


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


def owned_routes(owner_id: int) -> Select[Route]:
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
    route: Route | None = await session.scalar(owned_routes(owner_id).where(Route.id == route_id))
    return route


async def routes_of_day(
    session: AsyncSession, owner_id: int, day: date, after: IdKey | None, limit: int
) -> Page[Route]:
    """The owner's routes on the day, by id; `after` is the last of the previous page."""
    statement = owned_routes(owner_id).where(Route.date == day)
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
    RouteRuleError naming an order that is not one of the route's stops, or one that no
    longer fits the day in the order given.
    """
    locked = await _changeable(session, owner_id, route_id)
    if locked is None:
        return False
    route, provider = locked
    stops = {stop.route_order_id: stop for stop in route.stops}
    for order_id in order_ids:
        if order_id not in stops:
            raise RouteRuleError(f"route order {order_id} is not a stop of route {route_id}")
    kept = set(order_ids)
    dropped = [stop for stop in route.stops if stop.route_order_id not in kept]
    for stop in dropped:
        if stop.status is RouteStopStatus.done:
            raise RouteStateError(f"the visit to route order {stop.route_order_id} is done")
    await _delete_stops(session, dropped)
    await _reopen(session, [stop.route_order_id for stop in dropped])
    for stop in dropped:
        payload = {"route_id": route_id, "route_order_id": stop.route_order_id}
        unplanned = NotificationKind.route_unplanned
        await notify_about_order(
            session, stop.order.customer_id, unplanned, payload, stop.route_order_id
        )
    ordered = [stops[order_id] for order_id in order_ids]
    await _reschedule(session, route, provider, ordered, travel, _Way.as_given)
    return True


async def _changeable(
    session: AsyncSession, owner_id: int, route_id: int
) -> tuple[Route, Provider] | None:
    """The owner's planned route, its orders, it and its day locked (in that order);
    None if the owner has no such route, RouteStateError if it is done or cancelled."""
    await _lock_orders(session, _orders_of_route(route_id, owner_id))
    locked = await _locked_route(session, route_id, owner_id)
    if locked is None:
        return None
    route, provider = locked
    if route.status is not RouteStatus.planned:
        raise RouteStateError(f"route {route_id} is {route.status}")
    await lock_day(session, provider.id, route.date)
    return locked


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
    await lock_day(session, provider.id, route.date)
    await _delete_stops(session, [s for s in route.stops if s.route_order_id == order_id])
    kept = [stop for stop in route.stops if stop.route_order_id != order_id]
    await _reschedule(session, route, provider, kept, travel, _Way.as_given)
    payload = {"route_id": route.id, "route_order_id": order_id}
    await notify(session, provider.user_id, NotificationKind.route_order_cancelled, payload)
    return provider.id


async def insert_stop(
    session: AsyncSession,
    owner_id: int,
    route_id: int,
    order_id: int,
    travel: Travel,
    limits: PlanLimits,
) -> bool:
    """Claim the order for the route and visit it where the day drives least, every other
    visit in its order; False if the owner has no such route.

    Raises OrderTakenError if another route holds the order, RouteRuleError with the
    reason if it does not fit the day, RouteStateError if the route is done or cancelled.
    """
    await _lock_orders(session, select(RouteOrder.id).where(RouteOrder.id == order_id))
    locked = await _changeable(session, owner_id, route_id)
    if locked is None:
        return False
    route, provider = locked
    draft = RouteDraft(provider.id, route.date, [order_id], route.start, optimize=False)
    [claimed] = await _claim(session, draft)
    _, beyond = _within_reach(provider, route.start, [claimed], limits.max_radius_km)
    if beyond:
        raise RouteRuleError(f"route order {order_id} is beyond the provider's reach", beyond)
    minutes = await _service_minutes(session, provider.id, [claimed])
    await _check_day_size(session, provider.id, route.date, 1, limits.max_orders_per_day)
    adding = _order_visit(claimed, minutes)
    schedule = await _replan(session, route, provider, route.stops, travel, _Way.inserting, adding)
    [eta] = [stop.eta for stop in schedule.stops if stop.order is adding]
    payload = _planned(route.id, provider, order_id, eta)
    planned = NotificationKind.route_planned
    await notify_about_order(session, claimed.customer_id, planned, payload, order_id)
    return True


async def optimize_route(
    session: AsyncSession, owner_id: int, route_id: int, travel: Travel
) -> bool:
    """Visit the route's remaining stops in the order the day drives least, its done
    visits first and where they were; False if the owner has no such route."""
    locked = await _changeable(session, owner_id, route_id)
    if locked is None:
        return False
    route, provider = locked
    await _reschedule(session, route, provider, route.stops, travel, _Way.optimized)
    return True


class _Way(enum.Enum):
    """How a change orders the route's remaining visits."""

    as_given = "as given"
    inserting = "the others as they are, the new one where the day drives least"
    optimized = "re-solved"


ETA_MOVED = timedelta(minutes=15)
"""A customer is told of a new arrival time when it moves by more than this."""


async def _reschedule(
    session: AsyncSession,
    route: Route,
    provider: Provider,
    stops: Sequence[RouteStop],
    travel: Travel,
    way: _Way,
) -> None:
    """The route's stops scheduled anew (_replan); a route with none left to visit is
    cancelled, or done if it made some."""
    if any(stop.status is RouteStopStatus.planned for stop in stops):
        await _replan(session, route, provider, stops, travel, way)
    else:
        await _settle(session, route, [s for s in stops if s.status is RouteStopStatus.done])


async def _replan(
    session: AsyncSession,
    route: Route,
    provider: Provider,
    stops: Sequence[RouteStop],
    travel: Travel,
    way: _Way,
    adding: OrderVisit | None = None,
) -> _Schedule:
    """Schedule the route's stops anew, `way`: its done visits first and as they were,
    then the rest (and `adding`, a new stop) from the place and time the last done one
    ended. Legs, arrival times and totals are measured anew; customers whose arrival
    moved by more than ETA_MOVED are told. RouteRuleError if the visits do not fit.
    There must be a visit to schedule (see _reschedule)."""
    done = [stop for stop in stops if stop.status is RouteStopStatus.done]
    waiting = [stop for stop in stops if stop.status is RouteStopStatus.planned]
    resume = _resume(route, done)
    orders = [*map(_stop_visit, waiting), *([adding] if adding else [])]
    ends = (resume.place, route.end)
    model = await model_day(
        session,
        provider,
        route.date,
        travel,
        ends,
        orders,
        route.id,
        resume.not_before,
        resume.rested,
    )
    driven = _ordered(model, travel, way)
    told = {stop.route_order_id: (stop.order.customer_id, stop.eta) for stop in waiting}
    schedule = _schedule(model, driven)
    by_order = {stop.route_order_id: stop for stop in waiting}
    done_legs = await _legs(session, travel, [route.start, *(stop.order.point for stop in done)])
    changes: list[dict[str, Any]] = [
        {"id": stop.id, "position": position, **leg.values()}
        for position, (stop, leg) in enumerate(zip(done, done_legs, strict=True))
    ]
    added = []
    for position, planned in enumerate(schedule.stops, start=len(done)):
        stop = by_order.get(planned.order.order_id)
        values: dict[str, Any] = {
            "position": position,
            **planned.leg.values(),
            "eta": planned.eta,
        }
        if stop is None:
            added.append(
                {
                    "route_id": route.id,
                    "route_order_id": planned.order.order_id,
                    "service_minutes": planned.order.service_minutes,
                    **values,
                }
            )
        else:
            changes.append({"id": stop.id, **values})
    async with taking(session, schedule.time_taken(provider, route.id), row_by_row=True):
        await session.execute(update(RouteStop), changes)
        if added:
            await session.execute(insert(RouteStop), added)
    route_values = schedule.route_values(before=done_legs)
    if resume.rested:
        route_values.update(break_start=route.break_start, break_minutes=route.break_minutes)
    await session.execute(update(Route).where(Route.id == route.id).values(**route_values))
    day = day_bounds(route.date, provider.timezone)
    time_taken = TimeTaken(provider.id, *day, provider.timezone, route.id)
    await check_route_drives(session, route.id, time_taken, day, travel)
    await _tell_moved(session, route.id, provider, told, schedule)
    return schedule


async def _legs(session: AsyncSession, travel: Travel, places: Sequence[Point]) -> list[Leg]:
    """From each place to the next."""
    times = await travel.matrix(session).between(list(places))
    return [Leg.of(times, n, n + 1) for n in range(len(places) - 1)]


def _stop_visit(stop: RouteStop) -> OrderVisit:
    order = stop.order
    return OrderVisit(
        order.id,
        order.point,
        stop.service_minutes,
        order.arrive_after,
        order.arrive_before,
        stop.eta,
    )


def _ordered(model: DayModel, travel: Travel, way: _Way) -> Timeline:
    """The model's visits in a day, `way` (the last one the new stop when inserting)."""
    visits = list(model.orders)
    if way is _Way.optimized:
        current = _in_order(model, visits)
        plan = plan_day(model.day, travel.solver)
        better = plan is not None and not plan.left_out and current is not None
        if better and plan.timeline.drive_s < current.drive_s:  # type: ignore[union-attr]
            return plan.timeline  # type: ignore[union-attr]
        driven = current
    elif way is _Way.inserting:
        kept = _in_order(model, visits[:-1])
        steps = [] if kept is None else [timed.step for timed in kept.steps]
        placed = cheapest_insertion(model.day, steps, visits[-1])
        if placed is None:
            order = model.orders[visits[-1]]
            reason = why_left_out(model.day, visits[-1])
            raise RouteRuleError(
                f"route order {order.order_id} does not fit the day ({reason})",
                [LeftOut(order.order_id, reason)],
            )
        driven = placed.timeline
    else:
        driven = _in_order(model, visits)
    if driven is None:
        raise RouteRuleError(f"the provider's commitments on {model.clock.day} leave no day")
    return driven


@dataclass(frozen=True, slots=True)
class Resume:
    """Where and when the rest of a route's day starts: after its last done visit."""

    place: Point
    not_before: datetime | None
    rested: bool
    """Whether the route's break was taken before then."""


def _resume(route: Route, done: Sequence[RouteStop]) -> Resume:
    if not done:
        return Resume(route.start, None, rested=False)
    last = max(done, key=lambda stop: stop.eta + timedelta(minutes=stop.service_minutes))
    ended = last.eta + timedelta(minutes=last.service_minutes)
    rested = route.break_start is not None and route.break_start < ended
    return Resume(last.order.point, ended, rested)


async def _settle(session: AsyncSession, route: Route, done: Sequence[RouteStop]) -> None:
    """A route with no visit left to make: done if it made some, else cancelled."""
    status = RouteStatus.done if done else RouteStatus.cancelled
    total_m = sum(stop.leg_distance_m for stop in done)
    await session.execute(
        update(Route).where(Route.id == route.id).values(total_distance_m=total_m, status=status)
    )


async def _tell_moved(
    session: AsyncSession,
    route_id: int,
    provider: Provider,
    before: dict[int, tuple[int, datetime]],
    schedule: _Schedule,
) -> None:
    """Tell each customer whose visit now starts more than ETA_MOVED earlier or later than
    `before` said (order id: customer id and start)."""
    for planned in schedule.stops:
        order_id = planned.order.order_id
        if order_id not in before:
            continue
        customer_id, eta = before[order_id]
        if abs(planned.eta - eta) > ETA_MOVED:
            payload = _planned(route_id, provider, order_id, planned.eta)
            moved = NotificationKind.route_eta_moved
            await notify_about_order(session, customer_id, moved, payload, order_id)


async def _delete_stops(session: AsyncSession, stops: Collection[RouteStop]) -> None:
    if stops:
        await session.execute(delete(RouteStop).where(RouteStop.id.in_([s.id for s in stops])))


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
