"""Request and response bodies of the route endpoints."""

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Self

import msgspec

from app.edge.parameters import LatitudeField, LongitudeField, RowIdField, canonical_coordinates
from db.models import Route, RouteStatus, RouteStopStatus
from db.routes import AT_START, LeftOut, RouteDraft
from geo.day_plan import Reason
from geo.distance import Point
from geo.geojson import feature_collection, line_feature, point_feature
from geo.routes import Streets, drawn_line
from geo.travel import TravelBy


class Position(msgspec.Struct, forbid_unknown_fields=True):
    latitude: LatitudeField
    longitude: LongitudeField

    def __post_init__(self) -> None:
        canonical_coordinates(self)

    @property
    def point(self) -> Point:
        return Point(self.latitude, self.longitude)


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
    end: Position | msgspec.UnsetType | None = msgspec.UNSET
    """Where the day ends: back at the start if not sent, at the last visit if null."""

    def __post_init__(self) -> None:
        _no_repeats(self.route_order_ids)

    def as_draft(self) -> RouteDraft:
        start = None if self.start is None else self.start.point
        end = (
            AT_START if self.end is msgspec.UNSET else None if self.end is None else self.end.point
        )
        return RouteDraft(
            self.provider_id, self.date, self.route_order_ids, start, self.optimize, end
        )


class StopRequest(msgspec.Struct, forbid_unknown_fields=True):
    """An open order to visit on the route too, where the day drives least."""

    route_order_id: RowIdField


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
    """From where the provider was before: the start, the previous stop, or another
    commitment in between."""
    eta: datetime
    """When the visit starts (the provider waits there if early)."""
    service_minutes: int
    """How long the visit lasts: the provider's service for the category, per horse."""
    status: RouteStopStatus
    leg_seconds: int | None
    """The drive of that leg (None on routes planned before legs were timed)."""
    leg_travel: TravelBy
    """What measured the leg: the roads, or the great circle (a place off the network)."""


class DayEnd(msgspec.Struct):
    """Where the day ends, how far that is from the last stop, and when it is reached."""

    latitude: float
    longitude: float
    distance_m: float
    eta: datetime | None


class Break(msgspec.Struct):
    start: datetime
    end: datetime


class RouteDetails(msgspec.Struct):
    id: int
    provider_id: int
    date: date
    status: RouteStatus
    total_distance_m: float
    """Everything the day drives: to each stop, to commitments between them, to the end."""
    start: Position
    stops: list[StopDetails]
    end: DayEnd | None
    """None: the day ends at its last stop."""
    finish: datetime | None
    """When the day is over: at the end, or after the last stop."""
    travel: TravelBy
    """Roads if any leg was measured on them, else the great circle."""
    break_: Break | None = msgspec.field(name="break")

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
                stop.leg_seconds,
                TravelBy(stop.leg_travel),
            )
            for stop in route.stops
        ]
        start = Position(route.start_latitude, route.start_longitude)
        end = route.end
        rest = None
        if route.break_start is not None and route.break_minutes is not None:
            rest = Break(
                route.break_start, route.break_start + timedelta(minutes=route.break_minutes)
            )
        return cls(
            route.id,
            route.provider_id,
            route.date,
            route.status,
            route.total_distance_m,
            start,
            stops,
            None if end is None else DayEnd(*end, route.end_distance_m, route.finish),
            route.finish,
            TravelBy(route.travel),
            rest,
        )


class Unassigned(msgspec.Struct):
    route_order_id: int
    reason: Reason


class PlannedRoute(RouteDetails):
    """A route as planned, and the orders that did not fit its day (they stay open)."""

    unassigned: list[Unassigned] = msgspec.field(default_factory=list)

    @classmethod
    def planned(cls, route: RouteDetails, left_out: list[LeftOut]) -> "PlannedRoute":
        members = msgspec.structs.asdict(route)
        unassigned = [Unassigned(left.route_order_id, left.reason) for left in left_out]
        return cls(**members, unassigned=unassigned)


def route_path(route: RouteDetails) -> list[Point]:
    """Where the route drives: its start, its stops in order, its end if it has one."""
    stops = [Point(stop.latitude, stop.longitude) for stop in route.stops]
    end = [] if route.end is None else [Point(route.end.latitude, route.end.longitude)]
    return [Point(route.start.latitude, route.start.longitude), *stops, *end]


def route_features(route: RouteDetails, streets: Streets = ()) -> list[dict[str, Any]]:
    """The route for a map: its start, its line (along `streets`, the legs' streets where
    it has them) and its stops, each saying which it is."""
    start = route.start
    summary = {"route_id": route.id, "status": route.status}
    features = [point_feature(None, start.latitude, start.longitude, {"kind": "start", **summary})]
    if route.stops:
        line = drawn_line(route_path(route), streets)
        totals = {"total_distance_m": route.total_distance_m, "travel": route.travel}
        features.append(line_feature(line, {"kind": "line", **summary, **totals}))
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


def route_geojson(route: RouteDetails, streets: Streets = ()) -> dict[str, Any]:
    members = msgspec.to_builtins(route)
    del members["stops"], members["start"]
    return feature_collection(route_features(route, streets), **members)


class RouteList(msgspec.Struct):
    items: list[RouteDetails]
    next_cursor: str | None


class RoutesFilters(msgspec.Struct, frozen=True, tag=True):
    """Whose routes, on which day: a cursor of the list belongs to these."""

    owner_id: int
    day: date
