"""Public provider search: nearby, in view and clusters.

Each handler gets its query parameters as one request value (app.search.queries), and
its response is cached under that value (db.search_cache).
"""

import hashlib
from collections.abc import Awaitable, Callable
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
from app.compression import accepted_encoding, compressed
from app.errors import error_responses
from app.formats import GEOJSON, GEOJSON_TOO, JSON, ResponseFormat
from app.metrics import CACHE_LOOKUPS
from app.paging import keyset_page
from app.rate_limits import (
    COUNTED_BY_HANDLER,
    Counted,
    RateLimiter,
    api_limits_due,
    client_address,
)
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


class Searches:
    """What the search endpoints share: the searches, the response cache, database
    sessions, opened only when the cache has no answer (a hit touches no session), and the
    rate limits, counted in the round trip of the cache lookup.

    Kept in the app's state rather than given as a dependency: a handler's dependencies
    beyond one are resolved in a task group per request, which a cache hit would otherwise
    spend much of its time on."""

    def __init__(
        self,
        sessions: Callable[[], AsyncSession],
        provider_search: ProviderSearch,
        costly: CostlySearches,
        cursor_codec: CursorCodec,
        cache: SearchCache,
        rate_limiter: RateLimiter,
        max_age_s: int,
    ) -> None:
        self._sessions = sessions
        self.provider_search = provider_search
        self.costly = costly
        self.cursor_codec = cursor_codec
        self._cache = cache
        self._rate_limiter = rate_limiter
        self._max_age_s = max_age_s

    async def answer(
        self,
        scope: Scope,
        query: msgspec.Struct,
        area: list[LatLngBox],
        render: Callable[[AsyncSession], Awaitable[tuple[Any, str]]],
        if_none_match: str | None,
        limits: tuple[Counted, ...] = (),
    ) -> Response[bytes]:
        """The answer to `query`, a search within `area` (which the cache entry depends on):
        from the cache, or rendered in a session of its own and cached, compressed as the
        client asked; a 304 without a body when the client has it already. The request
        counts against the API's limits and `limits` in the same round trip as the lookup
        (429 when over one)."""
        key = self._cache.key(query)
        counted = (*api_limits_due(scope), *limits)
        reads = self._cache.reads(key, cells_of(area))
        lookup = self._cache.lookup(await self._rate_limiter.hit(*counted, reading=reads))
        CACHE_LOOKUPS.labels(cache="search", result="miss" if lookup.hit is None else "hit").inc()
        encoding = accepted_encoding(scope)
        entry = lookup.hit
        if entry is None:
            async with self._sessions() as session:
                payload, media_type = await render(session)
            entry = _entry(lookup.generation or 0, media_type, payload, encoding)
            if lookup.generation is not None:
                await self._cache.put(key, entry)
        headers = {
            "Cache-Control": f"public, max-age={self._max_age_s}",
            "ETag": entry.etag,
            "Vary": "Accept-Encoding",
        }
        if _has(if_none_match, entry.etag):
            return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
        body, used = _body_for(entry, encoding)
        if used is not None:
            headers["Content-Encoding"] = used
        return Response(body, media_type=entry.media_type, headers=headers)


def _body_for(entry: CachedResponse, encoding: str | None) -> tuple[bytes, str | None]:
    """The body as the client takes it, and its encoding: as cached if compressed the way
    it accepts, compressed for it alone if it accepts another way, else plain."""
    if encoding is None:
        return entry.body, None
    if entry.encoding == encoding and entry.encoded is not None:
        return entry.encoded, encoding
    packed = compressed(entry.body, encoding)
    return (entry.body, None) if packed is None else (packed, encoding)


def _entry(generation: int, media_type: str, payload: Any, encoding: str | None) -> CachedResponse:
    """A rendered answer as cached: its body, its ETag, and the body compressed as its
    first client asked (so that a hit never compresses for a client that asks the same)."""
    body = msgspec.json.encode(payload)
    encoded = compressed(body, encoding)
    used = encoding if encoded is not None else None
    return CachedResponse(generation, media_type, body, _etag(body), used, encoded)


def _searches(scope: Scope) -> Searches:
    searches: Searches = scope["app"].state.searches
    return searches


def _has(if_none_match: str | None, etag: str) -> bool:
    """Whether the client's If-None-Match names this ETag."""
    return if_none_match is not None and etag in (tag.strip() for tag in if_none_match.split(","))


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

        async def render(session: AsyncSession) -> tuple[Any, str]:
            async def page_after(after: DistanceKey | None) -> Page[ProviderHit]:
                query = NearbyQuery(
                    Point(filters.latitude, filters.longitude),
                    filters.radius_km * 1000,
                    wanted.limit,
                    filters.category,
                    after,
                )
                async with searches.costly.running(wanted.strategy):
                    return await searches.provider_search.nearby(session, query, wanted.strategy)

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
        costly = searches.costly.limits(wanted.strategy, client_address(scope))
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

        async def render(session: AsyncSession) -> tuple[Any, str]:
            page = await searches.provider_search.in_view(
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

        async def render(session: AsyncSession) -> tuple[Any, str]:
            items = await searches.provider_search.clusters(
                session, request.viewport, request.zoom, request.category
            )
            return ClusterList(items, request.zoom, cell_size_deg(request.zoom)), JSON

        return await searches.answer(
            scope, request, request.viewport.boxes(), render, if_none_match
        )
