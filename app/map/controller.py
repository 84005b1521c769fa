"""GET /map, and the files it loads from /map/static/."""

import html
import json
from pathlib import Path

from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.static_files import create_static_files_router

from app.edge.headers import PUBLIC
from app.settings import Settings
from db.models import ServiceCategory

HERE = Path(__file__).parent
STATIC = HERE / "static"
PAGE = (HERE / "page.html").read_text()
# Vendored files change only with their version, the page's own with a release.
_CACHE = CacheControlHeader(public=True, max_age=300)


@get("/map", include_in_schema=False, cache_control=_CACHE, opt=PUBLIC)
async def map_page(settings: NamedDependency[Settings]) -> Response[str]:
    """The page, told which search strategies this deployment offers and which service
    categories there are."""
    config = {
        "strategies": settings.search.offered_strategies(),
        "categories": [category.value for category in ServiceCategory],
    }
    page = PAGE.replace("{{config}}", html.escape(json.dumps(config)))
    return Response(page, media_type=MediaType.HTML)


map_files = create_static_files_router(
    "/map/static", directories=[STATIC], name="map-static", cache_control=_CACHE, opt=PUBLIC
)
