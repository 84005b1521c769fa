"""Public provider search: nearby, in view and clusters.

Each handler gets its query parameters as one request value (app.search.queries), and
its response is cached under that value (db.search_cache).
"""

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import ANONYMOUS, PUBLIC
from app.errors import error_responses
from app.formats import GEOJSON, GEOJSON_TOO, JSON, ResponseFormat
from app.metrics import CACHE_LOOKUPS
from app.paging import keyset_page
from app.rate_limits import client_address
from app.search.costly import CostlySearches
from app.search.queries import ClustersRequest, InViewRequest, NearbyRequest
from app.search.schemas import (
    CLUSTERS_EXAMPLE,
    IN_VIEW_EXAMPLE,
    NEARBY_EXAMPLE,
    ClusterList,
    InViewPage,
    NearbyPage,
)
from app.settings import Settings
from db.pages import Page
from db.search import NearbyQuery, ProviderHit, ProviderSearch
from db.search_cache import CachedResponse, SearchCache
from geo.bbox import LatLngBox, boxes_around
from geo.cells import cells_of
from geo.clusters import cell_size_deg
from geo.cursor import CursorCodec, DistanceKey
from geo.distance import Point
from geo.geojson import feature_collection, point_feature

IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        max_length=1000,
        description="ETags of answers the client has; one that matches is a 304",
    ),
]


NOT_MODIFIED = ResponseSpec(
    None, description="The answer is the one whose ETag the client sent in If-None-Match."
)


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class SearchAnswers:
    """The answer to a search request: from the search cache, or rendered and cached, and
    a 304 without a body when the client has it already."""

    def __init__(self, cache: SearchCache, max_age_s: int, if_none_match: str | None) -> None:
        self._cache = cache
        self._max_age_s = max_age_s
        self._if_none_match = if_none_match

    async def of(
        self,
        request: msgspec.Struct,
        area: list[LatLngBox],
        render: Callable[[], Awaitable[tuple[Any, str]]],
    ) -> Response[bytes]:
        """The answer to `request`, a search within `area` (which the cache entry depends on)."""
        key = self._cache.key(request)
        lookup = await self._cache.get(key, cells_of(area))
        CACHE_LOOKUPS.labels(cache="search", result="miss" if lookup.hit is None else "hit").inc()
        if lookup.hit is not None:
            body, media_type = lookup.hit.body, lookup.hit.media_type
        else:
            payload, media_type = await render()
            body = msgspec.json.encode(payload)
            if lookup.generation is not None:
                await self._cache.put(key, CachedResponse(lookup.generation, media_type, body))
        etag = _etag(body)
        headers = {"Cache-Control": f"public, max-age={self._max_age_s}", "ETag": etag}
        if self._client_has(etag):
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    def _client_has(self, etag: str) -> bool:
        wanted = self._if_none_match
        return wanted is not None and etag in (tag.strip() for tag in wanted.split(","))


def search_answers(
    search_cache: NamedDependency[SearchCache],
    settings: NamedDependency[Settings],
    if_none_match: IfNoneMatch = None,
) -> SearchAnswers:
    return SearchAnswers(search_cache, settings.search.cache_max_age_s, if_none_match)


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
    opt = PUBLIC
    security = ANONYMOUS
    dependencies = {"search_answers": Provide(search_answers, sync_to_thread=False)}  # noqa: RUF012

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
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        provider_search: NamedDependency[ProviderSearch],
        costly_searches: NamedDependency[CostlySearches],
        cursor_codec: NamedDependency[CursorCodec],
        search_answers: NamedDependency[SearchAnswers],
        nearby_request: NamedDependency[NearbyRequest],
    ) -> Response[bytes]:
        """Active providers within `radius_km`, nearest first, ties by id."""
        wanted = nearby_request
        filters = wanted.filters
        await costly_searches.admit(wanted.strategy, client_address(request))

        async def page_after(after: DistanceKey | None) -> Page[ProviderHit]:
            query = NearbyQuery(
                Point(filters.latitude, filters.longitude),
                filters.radius_km * 1000,
                wanted.limit,
                filters.category,
                after,
            )
            async with costly_searches.running(wanted.strategy):
                return await provider_search.nearby(db_session, query, wanted.strategy)

        async def render() -> tuple[Any, str]:
            items, next_cursor = await keyset_page(
                cursor_codec,
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
        return await search_answers.of(wanted, area, render)

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
        db_session: NamedDependency[AsyncSession],
        provider_search: NamedDependency[ProviderSearch],
        search_answers: NamedDependency[SearchAnswers],
        in_view_request: NamedDependency[InViewRequest],
    ) -> Response[bytes]:
        """Active providers inside a map viewport, nearest its center first (capped)."""
        request = in_view_request

        async def render() -> tuple[Any, str]:
            page = await provider_search.in_view(
                db_session, request.viewport, request.category, request.limit
            )
            if request.format is ResponseFormat.geojson:
                return _as_geojson(page.items, next_cursor=None, truncated=page.has_more), GEOJSON
            return InViewPage(page.items, truncated=page.has_more), JSON

        return await search_answers.of(request, request.viewport.boxes(), render)

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
        db_session: NamedDependency[AsyncSession],
        provider_search: NamedDependency[ProviderSearch],
        search_answers: NamedDependency[SearchAnswers],
        clusters_request: NamedDependency[ClustersRequest],
    ) -> Response[bytes]:
        """Counts and centroids of active providers per grid cell, for zoomed-out maps."""
        request = clusters_request

        async def render() -> tuple[Any, str]:
            items = await provider_search.clusters(
                db_session, request.viewport, request.zoom, request.category
            )
            return ClusterList(items, request.zoom, cell_size_deg(request.zoom)), JSON

        return await search_answers.of(request, request.viewport.boxes(), render)
