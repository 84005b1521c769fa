"""Providers' day routes: claim open orders, put them in visiting order, read routes back.

A route claims its orders by moving them from open to planned in the statement that
locks them, in id order, so two routes racing for an order cannot both get it and cannot
deadlock; the stops' unique index (migration 0004) holds the same rule in the schema.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

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
from db.notifications import NotificationKind, notify
from db.pages import Page
from db.profiles import owned_provider
from geo.cursor import IdKey
from geo.distance import Point
from geo.routes import DistanceMatrix, Leg, schedule, visiting_order


class RouteRuleError(Exception):
    """An order that can't be planned for that day by that provider, and why."""


class OrderTakenError(Exception):
    """An order another route holds."""


@dataclass(frozen=True, slots=True)
class RouteDraft:
    provider_id: int
    day: date
    order_ids: Sequence[int]
    start: Point | None
    optimize: bool


@dataclass(frozen=True, slots=True)
class Pace:
    """How a provider's day runs: when driving starts, and how fast it goes."""

    day_start: time
    speed_kmh: float


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    customer_id: int
    category: str
    point: Point


async def plan_route(
    session: AsyncSession, owner_id: int, draft: RouteDraft, pace: Pace, matrix: DistanceMatrix
) -> int | None:
    """The new route's id; None if the provider is not one of the owner's.

    Raises OrderTakenError or RouteRuleError, naming the first order at fault; the
    caller's transaction then holds nothing of the route.
    """
    provider = await owned_provider(session, owner_id, draft.provider_id)
    if provider is None:
        return None
    orders = await _claim(session, draft)
    minutes = await _service_minutes(session, provider.id, orders)
    start = draft.start or Point(provider.latitude, provider.longitude)
    visits, legs_m = await _visiting_order(start, orders, matrix, draft.optimize)
    day_start = datetime.combine(draft.day, pace.day_start, ZoneInfo(provider.timezone))
    durations = [minutes[order.category] for order in visits]
    arrivals = schedule(legs_m, durations, day_start, pace.speed_kmh)
    route_id = await _store(session, provider.id, draft.day, start, visits, arrivals)
    for order, arrival in zip(visits, arrivals, strict=True):
        payload = _planned(route_id, provider, order.id, arrival.eta)
        await notify(session, order.customer_id, NotificationKind.route_planned, payload)
    return route_id


async def _visiting_order(
    start: Point, orders: Sequence[_Claimed], matrix: DistanceMatrix, optimize: bool
) -> tuple[list[_Claimed], list[float]]:
    """The orders in visiting order (optimized, or as given), and each one's leg."""
    distances = await matrix.between([start, *(order.point for order in orders)])
    visits = visiting_order(distances) if optimize else list(range(len(orders)))
    nodes = [0, *(visit + 1 for visit in visits)]
    legs_m = [distances[a][b] for a, b in itertools.pairwise(nodes)]
    return [orders[visit] for visit in visits], legs_m


async def _store(
    session: AsyncSession,
    provider_id: int,
    day: date,
    start: Point,
    visits: Sequence[_Claimed],
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
        }
        for position, (order, arrival) in enumerate(zip(visits, arrivals, strict=True))
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
        )
    )
    claimed = {
        row.id: _Claimed(row.id, row.customer_id, row.category, Point(row.latitude, row.longitude))
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


def _owned_routes(owner_id: int) -> Select[tuple[Route]]:
    """Routes driven by the owner's providers, each with its stops in order and their
    orders: three statements however many routes and stops."""
    return (
        select(Route)
        .join(Provider, Provider.id == Route.provider_id)
        .where(Provider.user_id == owner_id)
        .options(selectinload(Route.stops).selectinload(RouteStop.order))
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


class RouteStateError(Exception):
    """The stop or its route is past the state the change needs."""


async def complete_stop(session: AsyncSession, owner_id: int, route_id: int, order_id: int) -> bool:
    """Mark the visit to `order_id` on the route done, the order with it, and the route
    once no stop is left. False if the owner has no such stop; RouteStateError if the
    stop is done already or its route is cancelled."""
    stop = (
        select(RouteStop)
        .join(Route, Route.id == RouteStop.route_id)
        .join(Provider, Provider.id == Route.provider_id)
        .where(
            RouteStop.route_id == route_id,
            RouteStop.route_order_id == order_id,
            Provider.user_id == owner_id,
        )
        .with_for_update(of=RouteStop)
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
