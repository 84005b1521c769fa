"""Prometheus metrics at GET /metrics, correct across granian's worker processes.

Request latency by route template and status, and requests in flight, come from
Litestar's Prometheus middleware; this module adds what only the app knows: the database
pool, cache hits and misses, rate-limit rejections per layer, and upstream geocoder calls.
With PROMETHEUS_MULTIPROC_DIR set (make serve sets it), every worker writes its samples
there and a scrape of any worker sums them all.
"""

from typing import Any

from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import Counter, Gauge
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.auth import ANONYMOUS, PUBLIC

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

PROMETHEUS = PrometheusConfig(
    app_name=PREFIX,
    prefix=PREFIX,
    group_path=True,  # by route template: /api/providers/{provider_id:int}
    exclude=["^/metrics", "^/schema"],
    exclude_unhandled_paths=True,
)


class MetricsController(PrometheusController):
    path = "/metrics"
    tags = ["operations"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS
    include_in_schema = False


def observe_pool(engine: AsyncEngine, capacity: int, name: str) -> None:
    """Count the pool's connections as they are checked out and in."""
    DB_POOL_SIZE.labels(pool=name).inc(capacity)
    in_use = DB_POOL_IN_USE.labels(pool=name)

    def checked_out(*_: Any) -> None:
        in_use.inc()

    def checked_in(*_: Any) -> None:
        in_use.dec()

    event.listen(engine.sync_engine.pool, "checkout", checked_out)
    event.listen(engine.sync_engine.pool, "checkin", checked_in)


def geocoder_event(name: str) -> None:
    """What the geocoder chain reports: cache_hit, cache_miss, or upstream_<outcome>."""
    if name.startswith("cache_"):
        CACHE_LOOKUPS.labels(cache="geocode", result=name.removeprefix("cache_")).inc()
    else:
        GEOCODER_UPSTREAM.labels(outcome=name.removeprefix("upstream_")).inc()
