"""Public provider search, three cached public reads (edge.cached_reads): nearby, in view
and clusters. Each renders its answer on the server public reads may be made on; the
answer cache, ETags, limits and replica choice are the edge's."""

from typing import Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example

from app.edge.answers import Rendered
from app.edge.cached_reads import CachedRead
from app.edge.formats import GEOJSON, GEOJSON_TOO, JSON, ResponseFormat
from app.edge.public_reads import PublicServer
from app.search.costly import CostlySearches
from app.search.queries import ClustersRequest, InViewRequest, NearbyRequest, SearchParsers
from app.search.schemas import (
    CLUSTERS_EXAMPLE,
    IN_VIEW_EXAMPLE,
    NEARBY_EXAMPLE,
    ClusterList,
    InViewPage,
    NearbyPage,
)
from db.search import NearbyQuery, ProviderHit
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
        filters = request.filters
        return boxes_around(Point(filters.latitude, filters.longitude), filters.radius_km * 1000)

    def limits(self, request: NearbyRequest) -> tuple[str, ...]:
        return self._costly.limits(request.strategy)

    async def render(self, server: PublicServer, request: NearbyRequest) -> Rendered:
        filters = request.filters
        after = self._cursors.after(request.cursor, filters, DistanceKey)
        query = NearbyQuery(
            Point(filters.latitude, filters.longitude),
            filters.radius_km * 1000,
            request.limit,
            filters.category,
            after,
        )
        async with self._costly.running(request.strategy):
            page = await server.providers.nearby(server.sessions, query, request.strategy)
        following = self._cursors.following(page.last_key(_key), filters)
        if request.format is ResponseFormat.geojson:
            geojson = _as_geojson(page.items, next_cursor=following, strategy=request.strategy)
            return Rendered(geojson, GEOJSON)
        return Rendered(NearbyPage(page.items, following, request.strategy), JSON)


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
