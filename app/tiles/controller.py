"""Vector tiles of providers, answered like searches (app.edge.answers): cached under
the generations of the area they show, with an ETag, public and rate limited per client
by a limit of their own (a map asks for a dozen tiles a view)."""

from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import ANONYMOUS, PUBLIC
from app.edge.answers import Searches, answer_repeated_searches
from app.edge.limits import COUNTED_BY_HANDLER, counted_per_client_as
from app.edge.proxies import FORWARDED_ORIGIN, TrustedProxies
from app.errors import error_responses
from app.search.controller import NOT_MODIFIED, IfNoneMatch
from app.search.queries import Category
from app.settings import Settings
from app.tiles.schemas import TileJSON
from db.search import ProviderSearch
from geo.clusters import PRECOMPUTED_MAX_ZOOM, cluster_area
from geo.numbers import INTEGER
from geo.tiles import InvalidTileError, Tile

MVT = "application/vnd.mapbox-vector-tile"
_SUFFIX = ".mvt"


class TileRequest(msgspec.Struct, frozen=True, tag=True):
    tile: Tile
    category: str | None


def _tile(z: int, x: int, y: str, max_zoom: int) -> Tile:
    row = y.removesuffix(_SUFFIX)
    if row == y or len(row) > 10 or not INTEGER.fullmatch(row) or row.startswith("-"):
        raise InvalidTileError("a tile is {z}/{x}/{y}.mvt, with whole numbers")
    return Tile.checked(z, x, int(row), max_zoom)


class TileController(Controller):
    path = "/api/tiles"
    tags = ["maps"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS

    @get(
        "/providers/{z:int}/{x:int}/{y:str}",
        operation_id="providerTile",
        opt=COUNTED_BY_HANDLER | counted_per_client_as("tiles"),
        middleware=[answer_repeated_searches],
        responses={
            HTTP_200_OK: ResponseSpec(
                bytes,
                description="A Mapbox Vector Tile; no bytes when the tile is empty.",
                media_type=MVT,
            ),
            HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
            # 404: z or x is not a whole number (no such path).
            **error_responses(400, 404, 503),
        },
    )
    async def provider_tile(
        self,
        scope: Scope,
        settings: NamedDependency[Settings],
        z: Annotated[int, Parameter(description="zoom")],
        x: Annotated[int, Parameter(description="column, from the west")],
        y: Annotated[str, Parameter(description="row, from the north, then .mvt")],
        category: Category = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response[bytes]:
        """Active providers in a web-map tile: up to zoom 12 a `clusters` layer (a point per
        cluster with its `count`), deeper a `providers` layer (id, name, categories)."""
        tile = _tile(z, x, y, settings.search.max_zoom)
        searches: Searches = scope["app"].state.searches

        async def render(session: AsyncSession, providers: ProviderSearch) -> tuple[bytes, str]:
            return await providers.tile(session, tile, category), MVT

        viewport = tile.viewport()
        clustered = tile.z <= PRECOMPUTED_MAX_ZOOM
        area = cluster_area(viewport, tile.z) if clustered else viewport.boxes()
        request = TileRequest(tile, category)
        return await searches.answer(scope, request, area, render, if_none_match)

    @get(
        "/providers.json",
        operation_id="providerTileJSON",
        cache_control=CacheControlHeader(public=True, max_age=3600),
        responses=error_responses(400),
    )
    async def tilejson(
        self,
        scope: Scope,
        settings: NamedDependency[Settings],
        category: Category = None,
    ) -> Response[TileJSON]:
        """TileJSON 3.0.0 for map clients: the tile URL (with `category` when given) and the
        layers' fields and zooms. The URL starts with PUBLIC_BASE_URL; without one, with
        the address the server listens on, or the host a trusted proxy passes on."""
        base, from_headers = settings.public_base_url.rstrip("/"), False
        if not base:
            proxies: TrustedProxies = scope["app"].state.rate_limiter.proxies
            base, from_headers = proxies.origin(scope)
        query = "" if category is None else f"?category={category}"
        tiles = f"{base}{self.path}/providers/{{z}}/{{x}}/{{y}}{_SUFFIX}{query}"
        headers = {"Vary": FORWARDED_ORIGIN} if from_headers else {}
        return Response(TileJSON([tiles]), headers=headers)
