"""The TileJSON of the provider tiles (the tiles themselves: app.tiles.reads)."""

from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.types import Scope

from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.proxies import FORWARDED_ORIGIN, TrustedProxies
from app.errors import error_responses
from app.search.queries import Category
from app.settings import Settings
from app.tiles.reads import SUFFIX
from app.tiles.schemas import TileJSON


class TileController(Controller):
    path = "/api/tiles"
    tags = ["maps"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS

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
        proxies: NamedDependency[TrustedProxies],
        category: Category = None,
    ) -> Response[TileJSON]:
        """TileJSON 3.0.0 for map clients: the tile URL (with `category` when given) and the
        layers' fields and zooms. The URL starts with PUBLIC_BASE_URL; without one, with
        the address the server listens on, or the host a trusted proxy passes on."""
        base, from_headers = settings.public_base_url.rstrip("/"), False
        if not base:
            base, from_headers = proxies.origin(scope)
        query = "" if category is None else f"?category={category}"
        tiles = f"{base}{self.path}/providers/{{z}}/{{x}}/{{y}}{SUFFIX}{query}"
        headers = {"Vary": FORWARDED_ORIGIN} if from_headers else {}
        return Response(TileJSON([tiles]), headers=headers)
