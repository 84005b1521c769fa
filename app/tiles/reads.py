"""Vector tiles of providers, a cached public read (edge.cached_reads): cached under the
generations of the area they show, with an ETag, public, and limited per client by a
limit of their own (a map asks for a dozen tiles a view)."""

from collections.abc import Callable
from typing import Annotated

import msgspec
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from app.edge.answers import Rendered
from app.edge.cached_reads import CachedRead
from app.edge.public_reads import PublicServer
from app.search.queries import Category
from geo.bbox import LatLngBox
from geo.clusters import PRECOMPUTED_MAX_ZOOM, cluster_area
from geo.numbers import INTEGER
from geo.tiles import InvalidTileError, Tile

MVT = "application/vnd.mapbox-vector-tile"
SUFFIX = ".mvt"


class TileRequest(msgspec.Struct, frozen=True, tag=True):
    tile: Tile
    category: str | None


def tile_parser(max_zoom: int) -> Callable[..., TileRequest]:
    def tile_request(
        z: Annotated[int, Parameter(description="zoom")],
        x: Annotated[int, Parameter(description="column, from the west")],
        y: Annotated[str, Parameter(description="row, from the north, then .mvt")],
        category: Category = None,
    ) -> TileRequest:
        row = y.removesuffix(SUFFIX)
        if row == y or len(row) > 10 or not INTEGER.fullmatch(row) or row.startswith("-"):
            raise InvalidTileError("a tile is {z}/{x}/{y}.mvt, with whole numbers")
        return TileRequest(Tile.checked(z, x, int(row), max_zoom), category)

    return tile_request


class ProviderTile(CachedRead[TileRequest]):
    path = "/api/tiles/providers/{z:int}/{x:int}/{y:str}"
    operation_id = "providerTile"
    summary = (
        "Active providers in a web-map tile: up to zoom 12 a `clusters` layer (a point per"
        " cluster with its `count`), deeper a `providers` layer (id, name, categories)."
    )
    tags = ["maps"]  # noqa: RUF012
    answer = ResponseSpec(
        bytes, description="A Mapbox Vector Tile; no bytes when the tile is empty.", media_type=MVT
    )
    # 404: z or x is not a whole number (no such path).
    errors = (400, 404, 503)
    instead_of_client = "tiles"

    def __init__(self, max_zoom: int) -> None:
        self.parse = tile_parser(max_zoom)

    def area(self, request: TileRequest) -> list[LatLngBox]:
        """Up to the zoom of kept counts, the whole cells of its clusters."""
        tile = request.tile
        if tile.z <= PRECOMPUTED_MAX_ZOOM:
            return cluster_area(tile.viewport(), tile.z)
        return tile.viewport().boxes()

    async def render(self, server: PublicServer, request: TileRequest) -> Rendered:
        tile = await server.providers.tile(server.sessions, request.tile, request.category)
        return Rendered(tile, MVT)
