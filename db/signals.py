"""What the servers behind the API say about themselves, read when metrics are scraped:
each Redis's memory and latency, the slowest statements (pg_stat_statements), the WAL
archiver, the replica's lag, and PgBouncer's pools (its admin console).

Every probe answers within its deadline or not at all: a server that is away is a sample
that says so (`up` false, or nothing), never a scrape that fails or waits.
"""

import asyncio
import time
from typing import Any, NamedTuple

import psycopg
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.outbox import Backlog, backlog

PROBE_TIMEOUT_S = 1.0
SLOWEST_STATEMENTS = 10
STATEMENT_LABEL_CHARS = 80


class RedisSample(NamedTuple):
    up: bool
    used_bytes: int = 0
    max_bytes: int = 0
    """0: no limit."""
    ping_s: float = 0.0
    evicted_keys: int = 0


async def redis_sample(redis: Redis) -> RedisSample:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await redis.ping()  # a connection, made first if the pool had none
            started = time.perf_counter()
            await redis.ping()
            ping_s = time.perf_counter() - started
            memory = await redis.info("memory")
            stats = await redis.info("stats")
    except (RedisError, TimeoutError, OSError):
        return RedisSample(up=False)
    return RedisSample(
        True, int(memory["used_memory"]), int(memory["maxmemory"]), ping_s, stats["evicted_keys"]
    )


class StatementSample(NamedTuple):
    statement: str
    """The start of its normalized text (pg_stat_statements: placeholders, no values)."""
    calls: int
    total_s: float
    mean_s: float


# The statements of this database that took the most time since the statistics were last
# reset. None when the extension is not installed in it.
_SLOWEST = text(
    "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), :chars), calls,"
    " total_exec_time / 1000, mean_exec_time / 1000 FROM pg_stat_statements"
    " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " ORDER BY total_exec_time DESC LIMIT :limit"
)
_HAS_STATEMENTS = text("SELECT to_regclass('pg_stat_statements') IS NOT NULL")

_ARCHIVER = text(
    "SELECT archived_count, failed_count, extract(epoch FROM last_archived_time),"
    " extract(epoch FROM last_failed_time), current_setting('archive_mode')"
    " FROM pg_stat_archiver"
)

_LAG = text(
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
)


class ArchiverSample(NamedTuple):
    archiving: bool
    """archive_mode is on."""
    archived: int
    failed: int
    last_archived_at: float | None
    last_failed_at: float | None


class DatabaseSample(NamedTuple):
    statements: list[StatementSample]
    archiver: ArchiverSample | None


async def database_sample(engine: AsyncEngine) -> DatabaseSample | None:
    """The primary's slowest statements and its archiver; None when it can't be asked."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), engine.connect() as connection:
            statements: list[StatementSample] = []
            if (await connection.execute(_HAS_STATEMENTS)).scalar():
                rows = await connection.execute(
                    _SLOWEST, {"chars": STATEMENT_LABEL_CHARS, "limit": SLOWEST_STATEMENTS}
                )
                statements = [StatementSample(*row) for row in rows]
            archived, failed, archived_at, failed_at, mode = (
                await connection.execute(_ARCHIVER)
            ).one()
    except (SQLAlchemyError, TimeoutError, OSError):
        return None
    archiver = ArchiverSample(
        mode != "off", archived, failed, _float(archived_at), _float(failed_at)
    )
    return DatabaseSample(statements, archiver)


async def outbox_backlog(engine: AsyncEngine) -> Backlog | None:
    """The outbox's waiting rows and dead letters; None when the primary can't be asked."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), engine.connect() as connection:
            return await backlog(connection)
    except (SQLAlchemyError, TimeoutError, OSError):
        return None


async def replica_lag_s(engine: AsyncEngine) -> float | None:
    """How long the replica's last replayed commit is behind, 0 when it has replayed all
    it received; None when it can't be asked."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), engine.connect() as connection:
            return _float((await connection.execute(_LAG)).scalar())
    except (SQLAlchemyError, TimeoutError, OSError):
        return None


class PoolSample(NamedTuple):
    """One PgBouncer pool (a database and user), as SHOW POOLS tells it."""

    database: str
    clients_active: int
    clients_waiting: int
    servers_active: int
    servers_idle: int
    max_wait_seconds: float


async def pgbouncer_pools(url: str) -> list[PoolSample] | None:
    """The pools of the PgBouncer at `url` (its `pgbouncer` admin database, which speaks
    only the simple query protocol: psycopg uses it for a statement without parameters);
    None when it can't be asked. The role needs to be one of its `stats_users`."""
    parts = make_url(url)
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            connection = await psycopg.AsyncConnection.connect(
                host=parts.host,
                port=parts.port,
                user=parts.username,
                password=parts.password,
                dbname="pgbouncer",
                autocommit=True,
            )
            async with connection, connection.cursor() as cursor:
                await cursor.execute("SHOW POOLS")
                names = [column.name for column in cursor.description or ()]
                rows = [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
    except (psycopg.Error, TimeoutError, OSError):
        return None
    return [_pool(row) for row in rows if row["database"] != "pgbouncer"]


def _pool(row: dict[str, Any]) -> PoolSample:
    return PoolSample(
        row["database"],
        int(row["cl_active"]),
        int(row["cl_waiting"]),
        int(row["sv_active"]),
        int(row["sv_idle"]),
        int(row["maxwait"]) + int(row.get("maxwait_us", 0)) / 1e6,
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
