"""A bare Litestar app that answers /health as the API does: what the framework and granian
cost on their own, the baseline for the API's /health."""

from litestar import Litestar, get


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[health])
