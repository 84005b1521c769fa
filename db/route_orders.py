"""Customers' route orders: a visit to a stable, for a kind of service, on some day in a window."""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import msgspec
import shapely
from sqlalchemy import (
    ColumnElement,
    Date,
    LargeBinary,
    Select,
    SQLColumnExpression,
    Text,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import RouteOrder, RouteOrderStatus
from db.nearest import (
    Bound,
    Located,
    SearchSettings,
    Sessions,
    Statement,
    nearest_statement,
    nearest_values,
)
from db.pages import Page, newest_first
from db.routes import take_off_route
from db.working_days import Travel
from geo.cursor import DistanceKey, TimeKey
from geo.distance import Point
from geo.routes import Insertion, Insertions, cheapest_insertion, path_geometry
from geo.travel import DistanceMatrix, TravelBy, travel_of


class RouteOrderStateError(Exception):
    """The order is past the state the change needs (done or cancelled already)."""


async def create_order(
    session: AsyncSession, customer_id: int, values: Mapping[str, Any]
) -> RouteOrder:
    statement = insert(RouteOrder).values(customer_id=customer_id, **values).returning(RouteOrder)
    order: RouteOrder = (await session.scalars(statement)).one()
    return order


def orders_statement(customer_id: int, after: TimeKey | None, limit: int) -> Select[RouteOrder]:
    """Newest first, then by id; `after` is the last item of the previous page."""
    statement = select(RouteOrder).where(RouteOrder.customer_id == customer_id)
    return newest_first(statement, RouteOrder.created_at, RouteOrder.id, after, limit)


async def orders_page(
    session: AsyncSession, customer_id: int, after: TimeKey | None, limit: int
) -> Page[RouteOrder]:
    statement = orders_statement(customer_id, after, limit + 1)
    return Page.of((await session.scalars(statement)).all(), limit)


class CancelledOrder(NamedTuple):
    order: RouteOrder
    rescheduled: int | None
    """The provider whose route it left, if it was planned."""


async def cancel_order(
    session: AsyncSession, customer_id: int, order_id: int, travel: Travel
) -> CancelledOrder | None:
    """The cancelled order; None if the customer has no such order. A planned order's
    visit leaves its route, which is rescheduled without it.

    Raises RouteOrderStateError for an order that is done or cancelled already.
    """
    mine = (RouteOrder.id == order_id, RouteOrder.customer_id == customer_id)
    status = await session.scalar(select(RouteOrder.status).where(*mine).with_for_update())
    if status is None:
        return None
    if status not in (RouteOrderStatus.open, RouteOrderStatus.planned):
        raise RouteOrderStateError(f"route order {order_id} is {status}: it can't be cancelled")
    rescheduled = None
    if status is RouteOrderStatus.planned:
        rescheduled = await take_off_route(session, order_id, travel)
    cancelled = update(RouteOrder).where(*mine).values(status=RouteOrderStatus.cancelled)
    returning = cancelled.returning(RouteOrder).execution_options(populate_existing=True)
    order: RouteOrder = (await session.scalars(returning)).one()
    return CancelledOrder(order, rescheduled)


class OrderHit(msgspec.Struct, frozen=True):
    """An open order as providers see it: where and when, not who."""

    id: int
    category: str
    latitude: float
    longitude: float
    earliest: date
    latest: date
    notes: str
    arrive_after: str | None
    """HH:MM on the provider's clock, or null."""
    arrive_before: str | None
    horses: int
    distance_m: float

    @property
    def key(self) -> DistanceKey:
        return DistanceKey(self.distance_m, self.id)

    @property
    def point(self) -> Point:
        return Point(self.latitude, self.longitude)


def _hit_columns(distance: ColumnElement[float]) -> tuple[SQLColumnExpression[Any], ...]:
    return (
        RouteOrder.id,
        RouteOrder.category,
        RouteOrder.latitude,
        RouteOrder.longitude,
        RouteOrder.earliest,
        RouteOrder.latest,
        RouteOrder.notes,
        func.to_char(RouteOrder.arrive_after, "HH24:MI").label("arrive_after"),
        func.to_char(RouteOrder.arrive_before, "HH24:MI").label("arrive_before"),
        RouteOrder.horses,
        distance.label("distance_m"),
    )


# A literal, not a parameter, so the planner can match the partial GiST index's predicate.
OPEN_ORDERS = Located(
    RouteOrder.location, RouteOrder.id, RouteOrder.status == literal_column("'open'"), _hit_columns
)


@dataclass(frozen=True, slots=True)
class AvailableQuery:
    center: Point
    radius_m: float
    day: date
    limit: int
    category: str | None = None
    after: DistanceKey | None = None


def _wanted_on(by_category: bool) -> list[ColumnElement[bool]]:
    day = bindparam("day", type_=Date)
    filters = [RouteOrder.earliest <= day, RouteOrder.latest >= day]
    if by_category:
        filters.append(RouteOrder.category == bindparam("category", type_=Text))
    return filters


def _wanted_values(day: date, category: str | None) -> dict[str, Any]:
    return {"day": day} | ({} if category is None else {"category": category})


@functools.cache
def _available_statement(paged: bool, by_category: bool) -> Statement:
    return nearest_statement(OPEN_ORDERS, _wanted_on(by_category), paged)


def available_statement(query: AvailableQuery) -> Bound:
    """Open orders whose window holds the day, nearest first (one row more than a page)."""
    statement = _available_statement(query.after is not None, query.category is not None)
    values = nearest_values(query.center, query.radius_m, query.after, query.limit)
    return Bound(statement, values | _wanted_values(query.day, query.category))


@dataclass(frozen=True, slots=True)
class CorridorQuery:
    path: Sequence[Point]
    """The route's start, then its stops in visiting order."""
    corridor_m: float
    day: date
    limit: int
    weighed: int
    """How many of the orders nearest the route's line are ranked by detour, at most."""
    category: str | None = None


class OrderAlong(OrderHit, frozen=True):
    """An open order near a route: `distance_m` is to the route's line."""

    detour_m: float
    """How much longer the route gets with a visit to this order at its cheapest place."""
    position: int
    """That place: the stop position the visit would take (the stops from it on move down)."""
    travel: TravelBy = TravelBy.great_circle
    """What measured the drives to and from it (geo.travel)."""


class OrdersAlong(msgspec.Struct):
    items: list[OrderAlong]
    truncated: bool
    """The corridor holds more orders than were ranked (those nearest the line were)."""


def corridor_statement(query: CorridorQuery) -> Bound:
    """Open orders wanted on the day within the corridor around the path, nearest the line
    first (one row more than are weighed). The path is geography, so its legs are great
    circles like the distances the route was measured with."""
    wkb = shapely.to_wkb(path_geometry(query.path))
    line = func.ST_GeogFromWKB(bindparam("path", wkb, type_=LargeBinary))
    distance = func.ST_Distance(RouteOrder.location, line, False)
    within = func.ST_DWithin(RouteOrder.location, line, query.corridor_m, False)
    statement = (
        select(*_hit_columns(distance))
        .where(OPEN_ORDERS.findable, within, *_wanted_on(query.category is not None))
        .order_by(distance, RouteOrder.id)
        .limit(query.weighed + 1)
    )
    return Bound(statement, _wanted_values(query.day, query.category))


class OpenOrderSearch(SearchSettings):
    """Open orders near a provider, on the scan and settings of provider search."""

    async def available(self, sessions: Sessions, query: AvailableQuery) -> Page[OrderHit]:
        rows = await self.rows(sessions, available_statement(query), index_ordered=True)
        return Page.of([OrderHit(*row) for row in rows], query.limit)

    async def along(
        self, sessions: Sessions, query: CorridorQuery, matrix: DistanceMatrix
    ) -> OrdersAlong:
        """Open orders along a route, by the detour a visit to each would add, ties by id:
        the weighed ones ranked by great circle, then those that could make the page
        (SHORTLIST times it) measured anew with `matrix` (on the roads, one way and the
        other) and ranked again."""
        rows = await self.rows(sessions, corridor_statement(query), index_ordered=False)
        near = Page.of([OrderHit(*row) for row in rows], query.weighed)
        insertions = Insertions(query.path[0], query.path[1:])
        ranked = sorted(
            (_along(hit, insertions.cheapest(hit.point)) for hit in near.items),
            key=lambda order: (order.detour_m, order.id),
        )
        measured = await _measured(query.path, ranked[: SHORTLIST * query.limit], matrix)
        return OrdersAlong(measured[: query.limit], truncated=near.has_more)


SHORTLIST = 2
"""How many times a page of orders along a route is measured with the route's matrix."""


async def _measured(
    path: Sequence[Point], shortlist: Sequence[OrderAlong], matrix: DistanceMatrix
) -> list[OrderAlong]:
    """The orders ranked by their detours as `matrix` measures them."""
    if not shortlist:
        return []
    times = await matrix.between([*path, *(order.point for order in shortlist)])
    drives, nodes = times.metres, range(len(path))
    legs_m = [drives[node][node + 1] for node in nodes[:-1]]

    def measured(order: OrderAlong, at: int) -> OrderAlong:
        insertion = cheapest_insertion(
            legs_m, [drives[node][at] for node in nodes], [drives[at][node] for node in nodes]
        )
        on_roads = (times.by_roads[node][at] or times.by_roads[at][node] for node in nodes)
        return msgspec.structs.replace(
            order,
            detour_m=insertion.detour_m,
            position=insertion.position,
            travel=travel_of(on_roads),
        )

    orders = (measured(order, at) for at, order in enumerate(shortlist, len(path)))
    return sorted(orders, key=lambda order: (order.detour_m, order.id))


def _along(hit: OrderHit, insertion: Insertion) -> OrderAlong:
    return OrderAlong(
        **msgspec.structs.asdict(hit), detour_m=insertion.detour_m, position=insertion.position
    )
