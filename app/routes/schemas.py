"""Request and response bodies of the route endpoints."""

from datetime import date, datetime
from typing import Annotated, Any, Self

import msgspec

from app.edge.parameters import LatitudeField, LongitudeField, RowIdField, canonical_coordinates
from db.models import Route, RouteStatus, RouteStopStatus
from db.routes import RouteDraft
from geo.distance import Point
from geo.geojson import feature_collection, line_feature, point_feature
from geo.routes import drawn_line


class Position(msgspec.Struct, forbid_unknown_fields=True):
    latitude: LatitudeField
    longitude: LongitudeField

    def __post_init__(self) -> None:
        canonical_coordinates(self)


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
    service_minutes: int
    """How long the visit lasts: the provider's service for the category, per horse."""
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
                stop.service_minutes,
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


def route_features(route: RouteDetails) -> list[dict[str, Any]]:
    """The route for a map: its start, its line and its stops, each saying which it is."""
    start = route.start
    summary = {"route_id": route.id, "status": route.status}
    features = [point_feature(None, start.latitude, start.longitude, {"kind": "start", **summary})]
    if route.stops:
        stops = [Point(stop.latitude, stop.longitude) for stop in route.stops]
        line = drawn_line([Point(start.latitude, start.longitude), *stops])
        total = {"total_distance_m": route.total_distance_m}
        features.append(line_feature(line, {"kind": "line", **summary, **total}))
    return [
        *features,
        *(
            point_feature(
                None,
                stop.latitude,
                stop.longitude,
                {"kind": "stop", "route_id": route.id} | msgspec.structs.asdict(stop),
            )
            for stop in route.stops
        ),
    ]


def route_geojson(route: RouteDetails) -> dict[str, Any]:
    members = msgspec.structs.asdict(route)
    del members["stops"], members["start"]
    return feature_collection(route_features(route), **members)


class RouteList(msgspec.Struct):
    items: list[RouteDetails]
    next_cursor: str | None


class RoutesFilters(msgspec.Struct, frozen=True, tag=True):
    """Whose routes, on which day: a cursor of the list belongs to these."""

    owner_id: int
    day: date
