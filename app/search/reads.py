"""Public provider search, four cached public reads (edge.cached_reads): nearby, free
near me, in view and clusters. Each renders its answer on the server public reads may be
made on; the answer cache, ETags, limits and replica choice are the edge's."""

from typing import Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from app.edge.answers import Rendered
from app.edge.cached_reads import CachedRead
from app.edge.formats import GEOJSON, GEOJSON_TOO, JSON, ResponseFormat
from app.edge.public_reads import PublicServer
from app.search.costly import CostlySearches
from app.search.queries import (
    AvailableRequest,
    ClustersRequest,
    InViewRequest,
    NearbyFilters,
    NearbyRequest,
    SearchParsers,
)
from app.search.schemas import (
    AVAILABLE_EXAMPLE,
    CLUSTERS_EXAMPLE,
    IN_VIEW_EXAMPLE,
    NEARBY_EXAMPLE,
    AvailablePage,
    ClusterList,
    InViewPage,
    NearbyPage,
)
from db.search import AvailableQuery, NearbyQuery, ProviderHit
from db.slots import SlotRules
from geo.bbox import LatLngBox, boxes_around
from geo.clusters import cell_size_deg, cluster_area
from geo.cursor import CursorCodec, DistanceKey
from geo.distance import Point
from geo.geojson import feature_collection, point_feature

_TAGS = ["providers"]


def _documented(
    body: type[msgspec.Struct], example: Example, description: str = GEOJSON_TOO
) -> ResponseSpec:
    return ResponseSpec(body, description=description, examples=[example])


def _as_geojson(items: list[ProviderHit], **foreign_members: Any) -> dict[str, Any]:
    features = (
        point_feature(
            hit.id,
            hit.latitude,
            hit.longitude,
            {
                "business_name": hit.business_name,
                "city": hit.city,
                "distance_m": hit.distance_m,
                "categories": hit.categories,
            },
        )
        for hit in items
    )
    return feature_collection(features, **foreign_members)


def _key(hit: ProviderHit) -> DistanceKey:
    return hit.key


def _circle(filters: NearbyFilters) -> list[LatLngBox]:
    return boxes_around(Point(filters.latitude, filters.longitude), filters.radius_km * 1000)


def _nearest(filters: NearbyFilters, limit: int, after: DistanceKey | None) -> NearbyQuery:
    center = Point(filters.latitude, filters.longitude)
    return NearbyQuery(center, filters.radius_km * 1000, limit, filters.category, after)


class Nearby(CachedRead[NearbyRequest]):
    path = "/api/providers/nearby"
    operation_id = "searchNearbyProviders"
    summary = "Active providers within `radius_km`, nearest first, ties by id."
    tags = _TAGS
    answer = _documented(NearbyPage, NEARBY_EXAMPLE)

    def __init__(self, parsers: SearchParsers, cursors: CursorCodec, costly: CostlySearches):
        self.parse = parsers.nearby
        self._cursors = cursors
        self._costly = costly

    def area(self, request: NearbyRequest) -> list[LatLngBox]:
        return _circle(request.filters)

    def limits(self, request: NearbyRequest) -> tuple[str, ...]:
        return self._costly.limits(request.strategy)

    async def render(self, server: PublicServer, request: NearbyRequest) -> Rendered:
        filters = request.filters
        after = self._cursors.after(request.cursor, filters, DistanceKey)
        query = _nearest(filters, request.limit, after)
        async with self._costly.running(request.strategy):
            page = await server.providers.nearby(server.sessions, query, request.strategy)
        following = self._cursors.following(page.last_key(_key), filters)
        if request.format is ResponseFormat.geojson:
            geojson = _as_geojson(page.items, next_cursor=following, strategy=request.strategy)
            return Rendered(geojson, GEOJSON)
        return Rendered(NearbyPage(page.items, following, request.strategy), JSON)


class Available(CachedRead[AvailableRequest]):
    path = "/api/providers/available"
    operation_id = "searchAvailableProviders"
    summary = (
        "Free near me: nearby's providers (same order, cursor and caps) that have a free slot"
        " of an active service of the category in the window, counting the drive to and from"
        " the point; each with its `first_free` slot (the earliest start, of the shortest"
        " service free then)."
    )
    tags = _TAGS
    answer = _documented(AvailablePage, AVAILABLE_EXAMPLE, "Free providers as JSON.")
    shows_free_time = True

    def __init__(self, parsers: SearchParsers, cursors: CursorCodec, rules: SlotRules) -> None:
        self.parse = parsers.available
        self._cursors = cursors
        self._rules = rules

    def area(self, request: AvailableRequest) -> list[LatLngBox]:
        return _circle(request.filters)

    async def render(self, server: PublicServer, request: AvailableRequest) -> Rendered:
        filters = request.filters
        after = self._cursors.after(request.cursor, filters, DistanceKey)
        nearby = _nearest(filters, request.limit, after)
        query = AvailableQuery(nearby, filters.window, filters.serves)
        page = await server.providers.available(server.sessions, query, self._rules)
        following = self._cursors.following(page.last_key(_key), filters)
        return Rendered(AvailablePage(page.items, following), JSON)


class InView(CachedRead[InViewRequest]):
    path = "/api/providers/in-view"
    operation_id = "searchProvidersInView"
    summary = "Active providers inside a map viewport, nearest its center first (capped)."
    tags = _TAGS
    answer = _documented(InViewPage, IN_VIEW_EXAMPLE)

    def __init__(self, parsers: SearchParsers) -> None:
        self.parse = parsers.in_view

    def area(self, request: InViewRequest) -> list[LatLngBox]:
        return request.viewport.boxes()

    async def render(self, server: PublicServer, request: InViewRequest) -> Rendered:
        page = await server.providers.in_view(
            server.sessions, request.viewport, request.category, request.limit
        )
        if request.format is ResponseFormat.geojson:
            return Rendered(
                _as_geojson(page.items, next_cursor=None, truncated=page.has_more), GEOJSON
            )
        return Rendered(InViewPage(page.items, truncated=page.has_more), JSON)


class Clusters(CachedRead[ClustersRequest]):
    path = "/api/providers/clusters"
    operation_id = "clusterProviders"
    summary = "Counts and centroids of active providers per grid cell, for zoomed-out maps."
    tags = _TAGS
    answer = _documented(ClusterList, CLUSTERS_EXAMPLE, "Clusters as JSON.")

    def __init__(self, parsers: SearchParsers) -> None:
        self.parse = parsers.clusters

    def area(self, request: ClustersRequest) -> list[LatLngBox]:
        """The whole cells it shows: a cell's count changes with a write anywhere in it."""
        return cluster_area(request.viewport, request.zoom)

    async def render(self, server: PublicServer, request: ClustersRequest) -> Rendered:
        items = await server.providers.clusters(
            server.sessions, request.viewport, request.zoom, request.category
        )
        return Rendered(ClusterList(items, request.zoom, cell_size_deg(request.zoom)), JSON)
