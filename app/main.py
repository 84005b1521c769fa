"""The application factory (`granian --factory app.main:create_app`)."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar import Litestar
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.accounts.auth import TokenIssuer, make_jwt_auth
from app.accounts.controller import AuthController, MeController
from app.bookings.controller import BookingController
from app.calendar.controller import CalendarController, CalendarFeedController
from app.edge.answers import Answers
from app.edge.bodies import ApiRequest
from app.edge.cached_reads import CachedRead
from app.edge.compression import compress_answers
from app.edge.headers import add_edge_headers, cors_config
from app.edge.limits import RateLimiter, limit_api_requests
from app.edge.logs import JsonFormatter, request_ids, stamp_records_with_request_ids
from app.edge.metrics import geocoder_event, observe_pool, observe_requests
from app.edge.paging import list_page_dependency
from app.edge.parameter_syntax import DocumentedSyntax
from app.edge.public_reads import database_engine, servers
from app.errors import UNLOGGED_ERRORS, exception_handlers
from app.exports.controller import ExportController
from app.geocoding.controller import GeocodeController
from app.hours.controller import HoursController
from app.map.controller import map_files, map_page
from app.notifications.controller import NotificationController
from app.ops.controller import HealthController
from app.ops.metrics import MetricsController, Servers
from app.profiles.controller import ProfileController
from app.route_orders.controller import RouteOrderController
from app.routes.controller import RouteController
from app.routes.queries import corridor_dependency, day_rules, route_matrices
from app.search.costly import CostlySearches
from app.search.queries import search_parsers
from app.search.reads import Available, Clusters, InView, Nearby
from app.settings import GeocoderKind, Settings, from_env, weak_secret_key
from app.slots.queries import slot_rules, windows
from app.slots.reads import Slots
from app.tiles.controller import TileController
from app.tiles.reads import ProviderTile
from db.accounts import Passwords
from db.engine import SlowStatementLog, check_pooler
from db.geocoding import GazetteerGeocoder
from db.roads.matrix import KeptDrives
from db.search_cache import SearchCache
from db.token_versions import TokenVersions
from db.working_days import Travel
from geo.cursor import CursorCodec
from geo.geocoding.chain import GeocoderChain
from geo.geocoding.nominatim import NominatimGeocoder
from geo.keys import derived_key
from geo.vroom_solver import vroom_steps

logger = logging.getLogger(__name__)


REDIS_CONNECTION_WAIT_S = 1.0
"""How long a command waits for a free connection of its client's pool."""


def make_redis(url: str, *, max_connections: int, socket_timeout_s: float | None = 1.0) -> Redis:
    """A client that fails fast: the cache and the limiter have fallbacks, and a request
    should not sit through retries with backoff while Redis is down. Past
    `max_connections` in use, a command waits for one to come free (within its deadline)
    instead of failing: a client's own burst must not look like Redis being away."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=REDIS_CONNECTION_WAIT_S,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), retries=1),
    )
    return Redis(connection_pool=pool)


def poolers(settings: Settings) -> dict[str, str]:
    """The PgBouncers in front of the databases, by role, whose pools /metrics shows."""
    if not settings.db_transaction_pooler:
        return {}
    urls = {"primary": settings.database_url, "replica": settings.database_replica_url}
    return {role: url for role, url in urls.items() if url}


def _constant(value: object) -> Callable[[], object]:
    return lambda: value


def _geocoder(
    settings: Settings,
    redis: Redis,
    cache_redis: Redis,
    gazetteer: GazetteerGeocoder,
    http: httpx.AsyncClient,
) -> GeocoderChain:
    upstream = None
    if settings.geocoder is GeocoderKind.nominatim:
        upstream = NominatimGeocoder(
            http,
            settings.nominatim_url,
            settings.nominatim_user_agent,
            countrycodes=settings.geocoder_countrycodes,
            accept_language=settings.geocoder_accept_language,
        )
    return GeocoderChain(
        redis,
        gazetteer,
        upstream,
        settings.geocoder_policy,
        report=geocoder_event,
        cache_redis=cache_redis,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or from_env()
    engine = database_engine(settings, settings.database_url)
    # One way to end a transaction: a write handler commits before it returns, so a failed
    # COMMIT raises in the handler and is answered as an error. The plugin's default
    # before-send handler only closes the session, rolling back whatever was not committed;
    # it never commits on its own. (It is made for this config's own session key.)
    slow_log = SlowStatementLog(settings.db_slow_info_ms, settings.db_slow_warning_ms)
    slow_log.watch(engine)
    db_config = SQLAlchemyAsyncConfig(
        engine_instance=engine, session_config=AsyncSessionConfig(expire_on_commit=False)
    )
    redis = make_redis(settings.redis_url, max_connections=settings.redis_max_connections)
    cache_redis = redis
    if settings.redis_cache_url:
        cache_redis = make_redis(
            settings.redis_cache_url, max_connections=settings.redis_max_connections
        )
    search_cache = SearchCache(
        redis,
        settings.search.server_cache_ttl_s,
        records_positions=bool(settings.database_replica_url),
        entries=cache_redis,
    )
    databases = servers(settings, engine, db_config.create_session_maker(), slow_log, search_cache)
    for name, pool in databases.engines.items():
        observe_pool(pool, settings.db_pool_size + settings.db_max_overflow, name)
    # The rate limits' round trip, which every API request makes, keeps a deadline of its
    # own (db.rate_windows): a socket timeout would cost it a task per command.
    limits_redis = make_redis(
        settings.redis_url, socket_timeout_s=None, max_connections=settings.redis_max_connections
    )
    cursor_codec = CursorCodec(derived_key(settings.secret_key, "search-cursor"))
    token_versions = TokenVersions(redis, engine)
    # Reckoned road drives are written on a pool of their own (db.roads.matrix.KeptDrives).
    kept_drives = database_engine(settings, settings.database_url, pool_size=1, max_overflow=1)
    jwt_auth = make_jwt_auth(
        derived_key(settings.secret_key, "access-token").hex(),
        settings.access_token_ttl_s,
        token_versions,
    )
    http = httpx.AsyncClient(timeout=settings.geocoder_policy.timeout_s)
    geocoder = _geocoder(settings, redis, cache_redis, GazetteerGeocoder(engine), http)
    rate_limiter = RateLimiter(
        limits_redis,
        settings.rate_limits,
        settings.processes,
        enabled=settings.rate_limits_enabled,
        trusted_proxies=settings.trusted_proxies,
    )
    stamp_records_with_request_ids()
    if not settings.rate_limits_enabled:
        logger.warning("RATE_LIMITS_ENABLED=false: no request is rate limited")
    if weakness := weak_secret_key(settings.secret_key):
        logger.warning("SECRET_KEY %s: allowed only because LOCAL_DEVELOPMENT=true", weakness)

    @asynccontextmanager
    async def close_clients(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()
            await search_cache.send_unsent()
            await redis.aclose()
            await limits_redis.aclose()
            if cache_redis is not redis:
                await cache_redis.aclose()
            await kept_drives.dispose()
            for name, pool in databases.engines.items():
                if name != "main":  # the plugin disposes of its own
                    await pool.dispose()
            for read_pool in databases.read_pools:
                await read_pool.dispose()

    async def check_poolers() -> None:
        for url in filter(None, (settings.database_url, settings.database_replica_url)):
            await check_pooler(url, settings.db_transaction_pooler)

    answers = Answers(
        databases.public_reads, search_cache, rate_limiter, settings.search.cache_max_age_s
    )
    window_of, rules = windows(settings), slot_rules(settings)
    parsers = search_parsers(settings.search, window_of)
    cached_reads: list[CachedRead[Any]] = [
        Nearby(parsers, cursor_codec, CostlySearches(settings.search.costly_at_once)),
        Available(parsers, cursor_codec, rules),
        Slots(window_of, rules),
        InView(parsers),
        Clusters(parsers),
        ProviderTile(settings.search.max_zoom),
    ]
    parameter_syntax = DocumentedSyntax()
    singletons = {
        "settings": settings,
        "redis": redis,
        "cursor_codec": cursor_codec,
        "token_issuer": TokenIssuer(jwt_auth),
        "geocoder": geocoder,
        "search_cache": search_cache,
        "token_versions": token_versions,
        "passwords": Passwords(
            settings.passwords.time_cost,
            settings.passwords.memory_kib,
            settings.passwords.parallelism,
        ),
        "public_reads": databases.public_reads,
        "proxies": rate_limiter.proxies,
        # Orders along a provider's own route: the primary's (app.edge.public_reads).
        "order_search": databases.public_reads.primary.orders,
        "travel": Travel(
            route_matrices(settings, KeptDrives(kept_drives)),
            day_rules(settings.routes),
            vroom_steps,
        ),
        "servers": Servers(
            {"state": redis, **({"cache": cache_redis} if cache_redis is not redis else {})},
            engine,
            databases.engines.get("replica"),
            poolers(settings),
            settings.jobs.queue,
        ),
    }
    return Litestar(
        route_handlers=[
            *(read.route(answers) for read in cached_reads),
            TileController,
            ProfileController,
            HoursController,
            GeocodeController,
            BookingController,
            NotificationController,
            ExportController,
            CalendarFeedController,
            CalendarController,
            RouteOrderController,
            RouteController,
            AuthController,
            MeController,
            HealthController,
            MetricsController,
            map_page,
            map_files,
        ],
        plugins=[SQLAlchemyPlugin(config=db_config)],
        on_app_init=[jwt_auth.on_app_init],
        dependencies={
            **{
                name: Provide(_constant(value), sync_to_thread=False)
                for name, value in singletons.items()
            },
            "nearby_area": Provide(parsers.nearby_area, sync_to_thread=False),
            "list_page": list_page_dependency(settings.pages),
            "corridor": corridor_dependency(settings.routes, settings.search),
        },
        request_class=ApiRequest,
        on_startup=[parameter_syntax.learn, check_poolers],
        before_request=parameter_syntax.check,
        request_max_body_size=settings.body_max_bytes,
        middleware=[
            request_ids,
            observe_requests,
            compress_answers,
            limit_api_requests(rate_limiter),
        ],
        before_send=[add_edge_headers],
        cors_config=cors_config(settings.cors_allow_origins),
        exception_handlers=exception_handlers(),
        logging_config=LoggingConfig(
            formatters={"standard": {"()": JsonFormatter}},
            log_exceptions="always",
            disable_stack_trace=UNLOGGED_ERRORS,
            # httpx logs each request's URL at INFO: the geocoder's carry addresses.
            loggers={name: {"level": "WARNING"} for name in ("httpx", "httpcore")},
        ),
        lifespan=[close_clients],
        openapi_config=OpenAPIConfig(title="equinet-geo", version="0.1.0", path="/schema"),
    )
