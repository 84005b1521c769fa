"""GET /metrics: the app's own metrics (app.edge.metrics), and what the servers behind it
say about themselves, asked at the moment of the scrape (db.signals).

The servers are asked by whichever worker answers the scrape, all at once, each within
its deadline; their samples are gauges made for this answer alone, so nothing stale from
another worker or an earlier scrape is ever shown. Every family is always listed, without
samples where there is nothing to tell (no replica, no PgBouncer), so that dashboards and
alerts can be checked against the names.
"""

import asyncio
import os
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.metrics import PREFIX
from app.jobs.queue import QueueSample, queue_sample
from db.outbox import Backlog
from db.signals import (
    PROBE_TIMEOUT_S,
    DatabaseSample,
    PoolSample,
    RedisSample,
    database_sample,
    outbox_backlog,
    pgbouncer_pools,
    redis_sample,
    replica_lag_s,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Servers:
    """What a scrape asks: the Redis instances by role, the primary, the replica, and
    the PgBouncers by role (their URLs)."""

    redis: dict[str, Redis]
    primary: AsyncEngine
    replica: AsyncEngine | None
    poolers: dict[str, str]
    queue_name: str = "equinet"


_REDIS_GAUGES = (  # name, help, RedisSample field
    ("up", "1 when the Redis answered the scrape's ping.", "up"),
    ("memory_used_bytes", "Memory the Redis uses.", "used_bytes"),
    ("memory_max_bytes", "The Redis's maxmemory (0: none).", "max_bytes"),
    ("ping_seconds", "How long the scrape's ping took.", "ping_s"),
    ("evicted_keys", "Keys the Redis has evicted since it started.", "evicted_keys"),
)


@dataclass(frozen=True, eq=False)  # a registry keys its collectors by identity
class Samples(Collector):
    redis: dict[str, RedisSample]
    database: DatabaseSample | None
    replica_lag_s: float | None
    """None without a replica, or when it can't be asked."""
    pools: dict[str, list[PoolSample] | None]
    queue: QueueSample | None = None
    backlog: Backlog | None = None

    def collect(self) -> Iterator[Metric]:
        yield from self._jobs()
        yield from self._redis()
        yield from self._database()
        lag = _gauge("replica_lag_seconds", "How far the replica's replay is behind.")
        if self.replica_lag_s is not None:
            lag.add_metric([], self.replica_lag_s)
        yield lag
        yield from self._pools()

    def _jobs(self) -> Iterator[Metric]:
        yield from _fields("jobs", _QUEUE_GAUGES, self.queue)
        outcomes = CounterMetricFamily(
            f"{PREFIX}_job_attempts",
            "Job attempts by how they ended: done, retried, dead (the last failed), aborted.",
            labels=["job", "outcome"],
        )
        for (job, outcome), count in (self.queue.outcomes if self.queue else {}).items():
            outcomes.add_metric([job, outcome], count)
        yield outcomes
        yield from _fields("outbox", _OUTBOX_GAUGES, self.backlog)

    def _redis(self) -> Iterator[Metric]:
        for name, help_text, field in _REDIS_GAUGES:
            family = _gauge(f"redis_{name}", help_text, ["redis"])
            for role, sample in self.redis.items():
                if sample.up or field == "up":
                    family.add_metric([role], float(getattr(sample, field)))
            yield family

    def _database(self) -> Iterator[Metric]:
        up = _gauge("database_up", "1 when the primary answered the scrape's questions.")
        up.add_metric([], float(self.database is not None))
        yield up
        calls = _gauge("db_statement_calls", "Calls of the slowest statements.", ["statement"])
        total = _gauge(
            "db_statement_seconds", "Time spent in the slowest statements.", ["statement"]
        )
        mean = _gauge(
            "db_statement_mean_seconds", "Mean time of the slowest statements.", ["statement"]
        )
        archive = {
            name: _gauge(f"wal_{name}", help_text)
            for name, help_text in {
                "archiving": "1 when WAL archiving is on.",
                "archived": "WAL segments archived since the statistics were reset.",
                "archive_failures": "Failed attempts to archive a WAL segment.",
                "last_archived_timestamp_seconds": "When the last segment was archived.",
                "last_archive_failure_timestamp_seconds": "When archiving last failed.",
            }.items()
        }
        if self.database is not None:
            for statement in self.database.statements:
                calls.add_metric([statement.statement], statement.calls)
                total.add_metric([statement.statement], statement.total_s)
                mean.add_metric([statement.statement], statement.mean_s)
            if (archiver := self.database.archiver) is not None:
                archive["archiving"].add_metric([], float(archiver.archiving))
                archive["archived"].add_metric([], archiver.archived)
                archive["archive_failures"].add_metric([], archiver.failed)
                if archiver.last_archived_at is not None:
                    archive["last_archived_timestamp_seconds"].add_metric(
                        [], archiver.last_archived_at
                    )
                if archiver.last_failed_at is not None:
                    archive["last_archive_failure_timestamp_seconds"].add_metric(
                        [], archiver.last_failed_at
                    )
        yield from (calls, total, mean, *archive.values())

    def _pools(self) -> Iterator[Metric]:
        up = _gauge("pgbouncer_up", "1 when the PgBouncer's admin console answered.", ["pooler"])
        fields = {
            "clients_active": "Clients linked to a server connection.",
            "clients_waiting": "Clients waiting for a server connection.",
            "servers_active": "Server connections linked to a client.",
            "servers_idle": "Server connections unused and ready.",
            "max_wait_seconds": "How long the oldest waiting client has waited.",
        }
        families = {
            field: _gauge(f"pgbouncer_{field}", help_text, ["pooler", "database"])
            for field, help_text in fields.items()
        }
        for pooler, pools in self.pools.items():
            up.add_metric([pooler], float(pools is not None))
            for pool in pools or ():
                for field, family in families.items():
                    family.add_metric([pooler, pool.database], float(getattr(pool, field)))
        yield up
        yield from families.values()


_QUEUE_GAUGES = {
    "queued": "Jobs waiting for a worker.",
    "active": "Jobs running.",
    "scheduled": "Jobs waiting for a later time: retries after their backoff.",
}
_OUTBOX_GAUGES = {
    "waiting": "Committed outbox rows not yet on the queue.",
    "oldest_waiting_seconds": "How long the oldest of them has waited.",
    "dead": "Dead letters: jobs whose last attempt failed.",
}


def _fields(prefix: str, gauges: dict[str, str], sample: object | None) -> Iterator[Metric]:
    """A gauge for each field of the sample, without a value when there is no sample."""
    for field, help_text in gauges.items():
        family = _gauge(f"{prefix}_{field}", help_text)
        if sample is not None:
            family.add_metric([], getattr(sample, field))
        yield family


def _gauge(name: str, help_text: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=labels)


async def sample(servers: Servers) -> Samples:
    """Ask every server at once."""
    roles = list(servers.redis)
    redis, database, lag, pools, queue, backlog = await asyncio.gather(
        asyncio.gather(*(redis_sample(servers.redis[role]) for role in roles)),
        database_sample(servers.primary),
        replica_lag_s(servers.replica) if servers.replica is not None else _nothing(),
        asyncio.gather(*(pgbouncer_pools(url) for url in servers.poolers.values())),
        _probe(queue_sample(servers.redis["state"], servers.queue_name), RedisError),
        outbox_backlog(servers.primary),
    )
    return Samples(
        dict(zip(roles, redis, strict=True)),
        database,
        lag,
        dict(zip(servers.poolers, pools, strict=True)),
        queue,
        backlog,
    )


async def _probe(asking: Awaitable[T], errors: type[Exception]) -> T | None:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return await asking
    except (errors, TimeoutError, OSError):
        return None


async def _nothing() -> None:
    return None


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS
    include_in_schema = False

    @get()
    async def metrics(self, servers: NamedDependency[Servers]) -> Response[bytes]:
        """Prometheus's text format: with PROMETHEUS_MULTIPROC_DIR, every worker's samples
        summed (app.edge.metrics), then the servers' as this worker found them now."""
        base = REGISTRY
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            base = CollectorRegistry()
            MultiProcessCollector(base)  # type: ignore[no-untyped-call]
        sampled = CollectorRegistry()
        sampled.register(await sample(servers))
        body = generate_latest(base) + generate_latest(sampled)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
