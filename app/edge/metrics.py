"""Prometheus metrics at GET /metrics, correct across granian's worker processes.

Requests by route template and status (count, latency, errors, in flight) come from
`observe_requests`, under the names Litestar's Prometheus middleware gives them; the rest
is what only the app knows: the database pool, cache hits and misses, rate-limit
rejections per layer, upstream geocoder calls, and which server public reads went to.
With PROMETHEUS_MULTIPROC_DIR set (make serve sets it), every worker writes its samples
there and a scrape of any worker sums them all.
"""

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

PREFIX = "equinet"

CACHE_LOOKUPS = Counter(
    f"{PREFIX}_cache_lookups_total", "Cache lookups, by cache and result.", ["cache", "result"]
)
RATE_LIMIT_REJECTIONS = Counter(
    f"{PREFIX}_rate_limit_rejections_total", "Requests refused with a 429, by limit.", ["limit"]
)
RATE_LIMIT_FALLBACKS = Counter(
    f"{PREFIX}_rate_limit_local_total", "Requests counted in process because Redis was away."
)
GEOCODER_UPSTREAM = Counter(
    f"{PREFIX}_geocoder_upstream_total", "Calls to the upstream geocoder, by outcome.", ["outcome"]
)
GEOCODER_WAITING = Gauge(
    f"{PREFIX}_geocoder_waiting",
    "Requests waiting for a turn at the upstream geocoder, over all workers.",
    multiprocess_mode="livesum",
)
PUBLIC_READS = Counter(
    f"{PREFIX}_public_reads_total",
    "Public reads with a replica configured, by the server that made them and, for the "
    "primary, why not the replica.",
    ["server", "reason"],
)
DB_POOL_IN_USE = Gauge(
    f"{PREFIX}_db_pool_in_use",
    "Database connections checked out, by pool.",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    f"{PREFIX}_db_pool_size",
    "Database connections a pool may open (size plus overflow), by pool.",
    ["pool"],
    multiprocess_mode="livesum",
)

_REQUEST_LABELS = ["method", "path", "status_code", "app_name"]
REQUESTS = Counter(f"{PREFIX}_requests_total", "Total requests", _REQUEST_LABELS)
REQUEST_ERRORS = Counter(
    f"{PREFIX}_requests_error_total", "Total errors in requests", _REQUEST_LABELS
)
REQUEST_DURATION = Histogram(
    f"{PREFIX}_request_duration_seconds", "Request duration, in seconds", _REQUEST_LABELS
)
REQUESTS_IN_PROGRESS = Gauge(
    f"{PREFIX}_requests_in_progress",
    "Total requests currently in progress",
    _REQUEST_LABELS,  # status_code is always 200 here: it isn't known yet
    multiprocess_mode="livesum",
)
_UNOBSERVED = ("/metrics", "/schema")
_MAX_SERIES = 2_000  # label sets kept at hand; routes and statuses are few


class _Series(NamedTuple):
    requests: Any
    duration: Any
    errors: Any | None


@functools.lru_cache(maxsize=_MAX_SERIES)
def _series(method: str, path: str, status: int) -> _Series:
    # Looking a label set up costs more than observing it: each is looked up once.
    labels = (method, path, str(status), PREFIX)
    errors = REQUEST_ERRORS.labels(*labels) if status >= 500 else None
    return _Series(REQUESTS.labels(*labels), REQUEST_DURATION.labels(*labels), errors)


@functools.lru_cache(maxsize=_MAX_SERIES)
def _in_progress(method: str, path: str) -> Any:
    return REQUESTS_IN_PROGRESS.labels(method, path, "200", PREFIX)


def observe_requests(app: ASGIApp) -> ASGIApp:
    """Middleware (after routing, so by route template): each HTTP request's count,
    latency and status, and the requests in flight."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path_template") or scope["path"]
        if scope["type"] != ScopeType.HTTP or path.startswith(_UNOBSERVED):
            await app(scope, receive, send)
            return
        method: str = scope["method"]
        status = 500  # unless an answer starts

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = _in_progress(method, path)
        in_progress.inc()
        started = time.perf_counter()
        try:
            await app(scope, receive, observed)
        except HTTPException as error:  # raised by a middleware (a 429): answered outside
            status = error.status_code
            raise
        finally:
            in_progress.dec()
            series = _series(method, path, status)
            series.requests.inc()
            series.duration.observe(time.perf_counter() - started)
            if series.errors is not None:
                series.errors.inc()

    return middleware


def pool_gauges(name: str, capacity: int) -> Callable[[int], None]:
    """Count a pool's capacity; what counts its connections in use (1 out, -1 back)."""
    DB_POOL_SIZE.labels(pool=name).inc(capacity)
    return DB_POOL_IN_USE.labels(pool=name).inc


def observe_pool(engine: AsyncEngine, capacity: int, name: str) -> None:
    """Count an engine's connections as they are checked out and in."""
    in_use = pool_gauges(name, capacity)

    def checked_out(*_: Any) -> None:
        in_use(1)

    def checked_in(*_: Any) -> None:
        in_use(-1)

    event.listen(engine.sync_engine.pool, "checkout", checked_out)
    event.listen(engine.sync_engine.pool, "checkin", checked_in)


def public_read(server: str, why: str | None) -> None:
    """What public reads report with a replica configured (db.replica)."""
    PUBLIC_READS.labels(server=server, reason=why or "replayed").inc()


def geocoder_event(name: str) -> None:
    """What the geocoder chain reports: cache_hit, cache_miss, queue_joined, queue_left,
    or upstream_<outcome>."""
    if name.startswith("cache_"):
        CACHE_LOOKUPS.labels(cache="geocode", result=name.removeprefix("cache_")).inc()
    elif name.startswith("queue_"):
        GEOCODER_WAITING.inc(1 if name == "queue_joined" else -1)
    else:
        GEOCODER_UPSTREAM.labels(outcome=name.removeprefix("upstream_")).inc()
