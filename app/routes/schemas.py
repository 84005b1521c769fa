"""Request and response bodies of the route endpoints."""

from datetime import date, datetime
from typing import Annotated, Self

import msgspec

from app.params import LatitudeField, LongitudeField, RowIdField
from db.models import Route, RouteStatus, RouteStopStatus
from db.routes import RouteDraft
from geo.distance import Point


class Position(msgspec.Struct, forbid_unknown_fields=True):
    latitude: LatitudeField
    longitude: LongitudeField


def _no_repeats(order_ids: list[int]) -> None:
    if len(set(order_ids)) != len(order_ids):
        raise ValueError("route_order_ids must not repeat")


class RouteRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A day's route for one of the caller's providers, through these open orders."""

    provider_id: RowIdField
    date: date
    route_order_ids: Annotated[list[RowIdField], msgspec.Meta(min_length=1)]
    start: Position | None = None
    """Where the day starts; the provider's location if not sent."""
    optimize: bool = True
    """Put the stops in a short visiting order; false keeps the order given."""

    def __post_init__(self) -> None:
        _no_repeats(self.route_order_ids)

    def as_draft(self) -> RouteDraft:
        start = None if self.start is None else Point(self.start.latitude, self.start.longitude)
        return RouteDraft(self.provider_id, self.date, self.route_order_ids, start, self.optimize)


class RouteChange(msgspec.Struct, forbid_unknown_fields=True):
    """The route's stops to keep, in the order to visit them: the others are dropped and
    their orders open again. None kept cancels the route."""

    route_order_ids: list[RowIdField]

    def __post_init__(self) -> None:
        _no_repeats(self.route_order_ids)


class StopDetails(msgspec.Struct):
    position: int
    route_order_id: int
    category: str
    latitude: float
    longitude: float
    leg_distance_m: float
    """From the previous stop, or from the start."""
    eta: datetime
    status: RouteStopStatus


class RouteDetails(msgspec.Struct):
    id: int
    provider_id: int
    date: date
    status: RouteStatus
    total_distance_m: float
    start: Position
    stops: list[StopDetails]

    @classmethod
    def of(cls, route: Route) -> Self:
        stops = [
            StopDetails(
                stop.position,
                stop.route_order_id,
                stop.order.category,
                stop.order.latitude,
                stop.order.longitude,
                stop.leg_distance_m,
                stop.eta,
                stop.status,
            )
            for stop in route.stops
        ]
        start = Position(route.start_latitude, route.start_longitude)
        return cls(
            route.id,
            route.provider_id,
            route.date,
            route.status,
            route.total_distance_m,
            start,
            stops,
        )


class RouteList(msgspec.Struct):
    items: list[RouteDetails]
    next_cursor: str | None


class RoutesFilters(msgspec.Struct, frozen=True, tag=True):
    """Whose routes, on which day: a cursor of the list belongs to these."""

    owner_id: int
    day: date
