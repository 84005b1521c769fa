"""Public provider search: nearby, in view and clusters."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import ANONYMOUS, PUBLIC
from app.paging import next_cursor, start_after
from app.params import Cursor
from app.search.schemas import (
    ClusterList,
    InViewPage,
    NearbyPage,
    ResponseFormat,
)
from app.settings import SEARCH_LIMITS as LIMITS
from app.settings import Settings
from db.models import ServiceCategory
from db.search import (
    NearbyQuery,
    ProviderHit,
    SearchStrategy,
    nearby_providers,
    provider_clusters,
    providers_in_view,
)
from db.search_cache import CachedResponse, SearchCache
from geo.clusters import cell_size_deg, check_cell_count
from geo.cursor import CursorCodec, DistanceKey
from geo.distance import Point
from geo.geojson import feature_collection, point_feature
from geo.viewport import check_span, parse_viewport

PUBLIC_CACHE = CacheControlHeader(public=True, max_age=LIMITS.cache_max_age_s)

Latitude = Annotated[float, Parameter(ge=-90, le=90, description="WGS 84 latitude")]
Longitude = Annotated[float, Parameter(ge=-180, le=180, description="WGS 84 longitude")]
RadiusKm = Annotated[float, Parameter(gt=0, le=LIMITS.max_radius_km)]
Limit = Annotated[int, Parameter(ge=1, le=LIMITS.max_limit)]
BBox = Annotated[str, Parameter(description="minLng,minLat,maxLng,maxLat", max_length=200)]
Zoom = Annotated[int, Parameter(ge=0, le=LIMITS.max_zoom)]
Format = Annotated[ResponseFormat, QueryParameter(name="format")]
Category = Annotated[ServiceCategory | None, QueryParameter()]
Strategy = Annotated[SearchStrategy, QueryParameter(description="gist (default), bbox or naive")]


JSON = "application/json"
GEOJSON = "application/geo+json"


async def _cached(
    cache: SearchCache, identity: str, render: Callable[[], Awaitable[tuple[Any, str]]]
) -> Response[bytes]:
    """The response for `identity` from the search cache, or rendered and cached."""
    key = cache.key(identity)
    lookup = await cache.get(key)
    if lookup.hit is not None:
        return Response(lookup.hit.body, media_type=lookup.hit.media_type)
    payload, media_type = await render()
    body = msgspec.json.encode(payload)
    if lookup.generation is not None:
        await cache.put(key, CachedResponse(lookup.generation, media_type, body))
    return Response(body, media_type=media_type)


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

    @get("/nearby", cache_control=PUBLIC_CACHE)
    async def nearby(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        cursor_codec: NamedDependency[CursorCodec],
        search_cache: NamedDependency[SearchCache],
        lat: Latitude,
        lng: Longitude,
        radius_km: RadiusKm = LIMITS.default_radius_km,
        limit: Limit = LIMITS.default_limit,
        category: Category = None,
        cursor: Cursor = None,
        strategy: Strategy = SearchStrategy.gist,
        format_: Format = ResponseFormat.json,
    ) -> Response[bytes]:
        """Active providers within `radius_km`, nearest first, ties by id."""
        scope = f"nearby:{lat!r}:{lng!r}:{radius_km!r}:{category}"
        query = NearbyQuery(
            center=Point(lat, lng),
            radius_m=radius_km * 1000,
            limit=limit,
            category=category,
            after=start_after(cursor_codec, cursor, scope, DistanceKey),
        )

        async def render() -> tuple[Any, str]:
            page = await nearby_providers(
                db_session, query, strategy, settings.db_statement_timeout_ms
            )
            next_page = next_cursor(cursor_codec, page, scope, lambda last: last.key)
            if format_ is ResponseFormat.geojson:
                return _as_geojson(page.items, next_cursor=next_page, strategy=strategy), GEOJSON
            return NearbyPage(page.items, next_page, strategy), JSON

        identity = f"{scope}:{limit}:{cursor}:{strategy}:{format_}"
        return await _cached(search_cache, identity, render)

    @get("/in-view", cache_control=PUBLIC_CACHE)
    async def in_view(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        search_cache: NamedDependency[SearchCache],
        bbox: BBox,
        limit: Limit = LIMITS.max_limit,
        category: Category = None,
        format_: Format = ResponseFormat.json,
    ) -> Response[bytes]:
        """Active providers inside a map viewport, nearest its center first (capped)."""
        viewport = check_span(parse_viewport(bbox), LIMITS.viewport_max_span_deg)

        async def render() -> tuple[Any, str]:
            page = await providers_in_view(
                db_session, viewport, category, limit, settings.db_statement_timeout_ms
            )
            if format_ is ResponseFormat.geojson:
                return _as_geojson(page.items, next_cursor=None, truncated=page.has_more), GEOJSON
            return InViewPage(page.items, next_cursor=None, truncated=page.has_more), JSON

        identity = f"in-view:{viewport!r}:{limit}:{category}:{format_}"
        return await _cached(search_cache, identity, render)

    @get("/clusters", cache_control=PUBLIC_CACHE)
    async def clusters(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        search_cache: NamedDependency[SearchCache],
        bbox: BBox,
        zoom: Zoom,
        category: Category = None,
    ) -> Response[bytes]:
        """Counts and centroids of active providers per grid cell, for zoomed-out maps."""
        viewport = check_cell_count(parse_viewport(bbox), zoom, LIMITS.clusters_max_cells)

        async def render() -> tuple[Any, str]:
            items = await provider_clusters(
                db_session, viewport, zoom, category, settings.db_statement_timeout_ms
            )
            return ClusterList(items, zoom, cell_size_deg(zoom)), JSON

        return await _cached(search_cache, f"clusters:{viewport!r}:{zoom}:{category}", render)
