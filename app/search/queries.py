"""The search endpoints' query parameters, bounded by this deployment's limits, as values.

Each endpoint gets its parameters as one frozen request value from a parser made here.
The answer cache keys the whole value, and a nearby cursor is bound to its filters, so a
parameter added here is part of both without anyone writing a key by hand.
"""

from collections.abc import Callable
from typing import Annotated, NamedTuple

import msgspec
from litestar.params import Parameter, QueryParameter

from app.edge.formats import Format, ResponseFormat
from app.edge.parameters import Cursor, Latitude, Longitude, bad_query
from app.settings import SearchLimits
from app.slots.queries import From, To, Windows
from db.models import ServiceCategory
from db.slots import Window
from geo.clusters import check_cell_count
from geo.distance import canonical_coordinate, canonical_longitude
from geo.strategies import SearchStrategy
from geo.viewport import Viewport, check_span, parse_viewport

BBox = Annotated[str, Parameter(description="minLng,minLat,maxLng,maxLat", max_length=200)]
Category = Annotated[ServiceCategory | None, QueryParameter()]


class NearbyArea(msgspec.Struct, frozen=True):
    """Where a nearest-first search looks and how much one page holds: the parameters that
    nearby providers and available route orders share, under the same bounds."""

    latitude: float
    longitude: float
    radius_km: float
    limit: int
    cursor: str | None


class NearbyFilters(msgspec.Struct, frozen=True, tag=True):
    """What a nearby page is a page of: its cursor belongs to these."""

    latitude: float
    longitude: float
    radius_km: float
    category: ServiceCategory | None


class NearbyRequest(msgspec.Struct, frozen=True, tag=True):
    filters: NearbyFilters
    limit: int
    cursor: str | None
    strategy: SearchStrategy
    format: ResponseFormat


class AvailableFilters(NearbyFilters, frozen=True, tag=True):
    """What a free-near-me page is a page of: its cursor belongs to these."""

    window: Window
    serves: bool


class AvailableRequest(msgspec.Struct, frozen=True, tag=True):
    filters: AvailableFilters
    limit: int
    cursor: str | None


class InViewRequest(msgspec.Struct, frozen=True, tag=True):
    viewport: Viewport
    limit: int
    category: ServiceCategory | None
    format: ResponseFormat


class ClustersRequest(msgspec.Struct, frozen=True, tag=True):
    viewport: Viewport
    zoom: int
    category: ServiceCategory | None


class SearchParsers(NamedTuple):
    """Each search's query parameters (as a function's, bounded by this deployment's limits)
    to its request value."""

    nearby_area: Callable[..., NearbyArea]
    nearby: Callable[..., NearbyRequest]
    available: Callable[..., AvailableRequest]
    in_view: Callable[..., InViewRequest]
    clusters: Callable[..., ClustersRequest]


def search_parsers(limits: SearchLimits, window_of: Windows) -> SearchParsers:
    """The parsers of this deployment's search parameters (free-near-me's windows
    checked by `window_of`)."""
    RadiusKm = Annotated[float, Parameter(gt=0, le=limits.max_radius_km)]
    Limit = Annotated[int, Parameter(ge=1, le=limits.max_limit)]
    Zoom = Annotated[int, Parameter(ge=0, le=limits.max_zoom)]
    offered = limits.offered_strategies()
    Strategy = Annotated[
        SearchStrategy,
        QueryParameter(description=f"one of {', '.join(offered)}; gist when not given"),
    ]

    def nearby_area(
        lat: Latitude,
        lng: Longitude,
        radius_km: RadiusKm = limits.default_radius_km,
        limit: Limit = limits.default_limit,
        cursor: Cursor = None,
    ) -> NearbyArea:
        return NearbyArea(
            canonical_coordinate(lat), canonical_longitude(lng), radius_km, limit, cursor
        )

    def nearby_request(
        lat: Latitude,
        lng: Longitude,
        radius_km: RadiusKm = limits.default_radius_km,
        limit: Limit = limits.default_limit,
        cursor: Cursor = None,
        category: Category = None,
        strategy: Strategy = SearchStrategy.gist,
        format_: Format = ResponseFormat.json,
    ) -> NearbyRequest:
        if strategy not in offered:
            raise bad_query(
                "strategy",
                f"strategy {strategy} is not offered here; use one of {', '.join(offered)}",
                "not offered",
            )
        area = nearby_area(lat, lng, radius_km, limit, cursor)
        filters = NearbyFilters(area.latitude, area.longitude, area.radius_km, category)
        return NearbyRequest(filters, area.limit, area.cursor, strategy, format_)

    def available_request(
        lat: Latitude,
        lng: Longitude,
        radius_km: RadiusKm = limits.default_radius_km,
        limit: Limit = limits.default_limit,
        cursor: Cursor = None,
        category: Category = None,
        from_: From = None,
        to: To = None,
        serves: Annotated[
            bool, QueryParameter(description="only providers whose service radius reaches here")
        ] = False,
    ) -> AvailableRequest:
        area = nearby_area(lat, lng, radius_km, limit, cursor)
        window = window_of(from_, to)
        filters = AvailableFilters(
            area.latitude, area.longitude, area.radius_km, category, window, serves
        )
        return AvailableRequest(filters, area.limit, area.cursor)

    def in_view_request(
        bbox: BBox,
        limit: Limit = limits.max_limit,
        category: Category = None,
        format_: Format = ResponseFormat.json,
    ) -> InViewRequest:
        viewport = check_span(parse_viewport(bbox), limits.viewport_max_span_deg)
        return InViewRequest(viewport, limit, category, format_)

    def clusters_request(bbox: BBox, zoom: Zoom, category: Category = None) -> ClustersRequest:
        viewport = check_cell_count(parse_viewport(bbox), zoom, limits.clusters_max_cells)
        return ClustersRequest(viewport, zoom, category)

    return SearchParsers(
        nearby_area, nearby_request, available_request, in_view_request, clusters_request
    )
