"""Public provider search: nearby, in view and clusters.

Each handler gets its query parameters as one request value (app.search.queries), and
its response is cached under that value (db.search_cache, app.edge.answers).
"""

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import ANONYMOUS, PUBLIC
from app.edge.answers import IF_NONE_MATCH_MAX_LENGTH, Searches, answer_repeated_searches
from app.edge.formats import GEOJSON, GEOJSON_TOO, JSON, ResponseFormat
from app.edge.limits import COUNTED_BY_HANDLER
from app.edge.paging import keyset_page
from app.errors import error_responses
from app.search.queries import ClustersRequest, InViewRequest, NearbyRequest
from app.search.schemas import (
    CLUSTERS_EXAMPLE,
    IN_VIEW_EXAMPLE,
    NEARBY_EXAMPLE,
    ClusterList,
    InViewPage,
    NearbyPage,
)
from db.pages import Page
from db.search import NearbyQuery, ProviderHit, ProviderSearch
from geo.bbox import boxes_around
from geo.clusters import cell_size_deg, cluster_area
from geo.cursor import DistanceKey
from geo.distance import Point
from geo.geojson import feature_collection, point_feature

IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        max_length=IF_NONE_MATCH_MAX_LENGTH,
        description="ETags of answers the client has; one that matches is a 304",
    ),
]


NOT_MODIFIED = ResponseSpec(
    None, description="The answer is the one whose ETag the client sent in If-None-Match."
)


def _searches(scope: Scope) -> Searches:
    searches: Searches = scope["app"].state.searches
    return searches


def _documented(
    body: type[msgspec.Struct], example: Example, description: str = GEOJSON_TOO
) -> ResponseSpec:
    """The 200 answer as the document shows it (the handlers send encoded bytes)."""
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


class SearchController(Controller):
    path = "/api/providers"
    tags = ["providers"]  # noqa: RUF012
    opt = PUBLIC | COUNTED_BY_HANDLER
    security = ANONYMOUS
    middleware = [answer_repeated_searches]  # noqa: RUF012

    @get(
        "/nearby",
        operation_id="searchNearbyProviders",
        responses={
            HTTP_200_OK: _documented(NearbyPage, NEARBY_EXAMPLE),
            HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
            **error_responses(400, 429, 503),
        },
    )
    async def nearby(
        self,
        scope: Scope,
        nearby_request: NamedDependency[NearbyRequest],
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        """Active providers within `radius_km`, nearest first, ties by id."""
        wanted = nearby_request
        filters = wanted.filters
        searches = _searches(scope)

        async def render(session: AsyncSession, providers: ProviderSearch) -> tuple[Any, str]:
            async def page_after(after: DistanceKey | None) -> Page[ProviderHit]:
                query = NearbyQuery(
                    Point(filters.latitude, filters.longitude),
                    filters.radius_km * 1000,
                    wanted.limit,
                    filters.category,
                    after,
                )
                async with searches.costly.running(wanted.strategy):
                    return await providers.nearby(session, query, wanted.strategy)

            items, next_cursor = await keyset_page(
                searches.cursor_codec,
                filters,
                wanted.cursor,
                DistanceKey,
                fetch=page_after,
                key_of=lambda hit: hit.key,
            )
            if wanted.format is ResponseFormat.geojson:
                geojson = _as_geojson(items, next_cursor=next_cursor, strategy=wanted.strategy)
                return geojson, GEOJSON
            return NearbyPage(items, next_cursor, wanted.strategy), JSON

        area = boxes_around(Point(filters.latitude, filters.longitude), filters.radius_km * 1000)
        costly = searches.costly.limits(wanted.strategy)
        return await searches.answer(scope, wanted, area, render, if_none_match, costly)

    @get(
        "/in-view",
        operation_id="searchProvidersInView",
        responses={
            HTTP_200_OK: _documented(InViewPage, IN_VIEW_EXAMPLE),
            HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
            **error_responses(400, 503),
        },
    )
    async def in_view(
        self,
        scope: Scope,
        in_view_request: NamedDependency[InViewRequest],
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        """Active providers inside a map viewport, nearest its center first (capped)."""
        request = in_view_request
        searches = _searches(scope)

        async def render(session: AsyncSession, providers: ProviderSearch) -> tuple[Any, str]:
            page = await providers.in_view(
                session, request.viewport, request.category, request.limit
            )
            if request.format is ResponseFormat.geojson:
                return _as_geojson(page.items, next_cursor=None, truncated=page.has_more), GEOJSON
            return InViewPage(page.items, truncated=page.has_more), JSON

        return await searches.answer(
            scope, request, request.viewport.boxes(), render, if_none_match
        )

    @get(
        "/clusters",
        operation_id="clusterProviders",
        responses={
            HTTP_200_OK: _documented(ClusterList, CLUSTERS_EXAMPLE, "Clusters as JSON."),
            HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
            **error_responses(400, 503),
        },
    )
    async def clusters(
        self,
        scope: Scope,
        clusters_request: NamedDependency[ClustersRequest],
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        """Counts and centroids of active providers per grid cell, for zoomed-out maps."""
        request = clusters_request
        searches = _searches(scope)

        async def render(session: AsyncSession, providers: ProviderSearch) -> tuple[Any, str]:
            items = await providers.clusters(
                session, request.viewport, request.zoom, request.category
            )
            return ClusterList(items, request.zoom, cell_size_deg(request.zoom)), JSON

        area = cluster_area(request.viewport, request.zoom)
        return await searches.answer(scope, request, area, render, if_none_match)
