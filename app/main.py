"""The application factory (`granian --factory app.main:create_app`)."""

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from redis.asyncio import Redis

from app.errors import EXCEPTION_HANDLERS
from app.ops.controller import HealthController
from app.providers.controller import ProviderSearchController
from app.settings import Settings, from_env
from db.engine import make_engine
from geo.cursor import CursorCodec


def _derived_key(secret_key: str, purpose: str) -> bytes:
    """Separate keys per purpose, so a cursor MAC can never double as anything else."""
    return hashlib.sha256(f"{purpose}:{secret_key}".encode()).digest()


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or from_env(Settings)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout_s=settings.db_pool_timeout_s,
    )
    db_config = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
    )
    redis = Redis.from_url(settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    cursor_codec = CursorCodec(_derived_key(settings.secret_key, "search-cursor"))

    @asynccontextmanager
    async def close_redis(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await redis.aclose()

    return Litestar(
        route_handlers=[ProviderSearchController, HealthController],
        plugins=[SQLAlchemyPlugin(config=db_config)],
        dependencies={
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "redis": Provide(lambda: redis, sync_to_thread=False),
            "cursor_codec": Provide(lambda: cursor_codec, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=LoggingConfig(log_exceptions="always"),
        lifespan=[close_redis],
        compression_config=CompressionConfig(backend="gzip", minimum_size=1024),
        openapi_config=OpenAPIConfig(title="equinet-geo", version="0.1.0", path="/schema"),
    )
