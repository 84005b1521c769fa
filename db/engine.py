"""Engines, the read pool of the hot searches, and the slow-statement log."""

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast
from uuid import uuid4

import asyncpg
from asyncpg import Connection, Record
from asyncpg.exceptions import ConnectionDoesNotExistError
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy import ClauseElement, Dialect, event
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler

from db.databases import asyncpg_dsn

logger = logging.getLogger(__name__)
_STATEMENT_SHOWN = 160
ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]
# SQLSTATE classes that say the database can't serve now, not that the statement is wrong:
# connection exceptions, insufficient resources (too many connections), and operator
# intervention (a shutdown or restart, a statement cancelled at its timeout); and a lock
# not had within the lock timeout (55P03).
LOCK_NOT_AVAILABLE = "55P03"
_UNAVAILABLE_SQLSTATES = ("08", "53", "57", LOCK_NOT_AVAILABLE)

SETS_ITS_OWN = {"sets_its_own_timeouts": True}
"""Execution options of a session's connection whose transaction sends its settings in a
statement of its own (db.nearest), so that no other round trip is spent on them."""


class Timeouts(NamedTuple):
    """What every transaction of the API runs under: no statement runs longer than
    `statement_ms`, none waits longer than `lock_ms` for a lock, and a session that sits
    in a transaction doing nothing for `idle_in_transaction_ms` is ended (its locks go
    with it)."""

    statement_ms: int
    lock_ms: int
    idle_in_transaction_ms: int

    def settings(self) -> dict[str, str]:
        return {
            "statement_timeout": str(self.statement_ms),
            "lock_timeout": str(self.lock_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_ms),
        }


def engine_options(pool_size: int, max_overflow: int, pool_timeout_s: float) -> dict[str, Any]:
    """Options for an asyncpg engine that also works behind PgBouncer in transaction mode.

    No prepared statement may outlive its transaction there, so neither asyncpg nor
    SQLAlchemy caches them, and each gets a unique name. It also means every search is
    planned for its actual parameters, never with a generic plan.
    """
    return {
        # Bookings rely on an exclusion constraint, not on a stricter isolation level:
        # spelled out so that a server-wide default_transaction_isolation can't change it.
        "isolation_level": "READ COMMITTED",
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout_s,
        "pool_pre_ping": True,
        # Parameters carry emails, password hashes and addresses: never in an error's text.
        "hide_parameters": True,
        "connect_args": {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__",
        },
    }


def make_engine(
    url: str,
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_timeout_s: float = 5,
    timeouts: Timeouts | None = None,
    per_transaction: bool = False,
    application_name: str | None = None,
) -> AsyncEngine:
    """An engine whose connections run under `timeouts`: set when each connection opens,
    or, with `per_transaction` (behind a transaction-mode pooler, where a connection's
    settings would reach other clients), at the start of each transaction, for it alone.
    `application_name` names its connections in pg_stat_activity."""
    options = engine_options(pool_size, max_overflow, pool_timeout_s)
    server_settings = options["connect_args"].setdefault("server_settings", {})
    if timeouts is not None and not per_transaction:
        server_settings.update(timeouts.settings())
    if application_name is not None:
        server_settings["application_name"] = application_name
    engine = create_async_engine(url, **options)
    if timeouts is not None and per_transaction:
        statement = "SELECT " + ", ".join(
            f"set_config('{name}', '{value}', true)" for name, value in timeouts.settings().items()
        )

        @event.listens_for(engine.sync_engine, "begin")
        def set_timeouts(connection: Any) -> None:
            if not connection.get_execution_options().get("sets_its_own_timeouts"):
                connection.exec_driver_sql(statement)

    return engine


class PoolerMisconfiguredError(RuntimeError):
    """The API reaches PostgreSQL through a transaction-mode pooler it was not told of."""


async def behind_a_pooler(url: str) -> bool | None:
    """Whether a connection to `url` reaches PostgreSQL through a pooler (PgBouncer), or
    None when it can't be told (the server is unreachable). A pooler answers the start-up
    itself, with a backend key of its own: the process id it names is not that of the
    server process that runs the statements."""
    try:
        connection = await asyncpg.connect(asyncpg_dsn(url), statement_cache_size=0, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        backend_pid: int = await connection.fetchval("SELECT pg_backend_pid()")
        return connection.get_server_pid() != backend_pid
    finally:
        await connection.close()


async def check_pooler(url: str, transaction_pooler: bool) -> None:
    """Refuse to start behind a transaction-mode pooler without DB_TRANSACTION_POOLER:
    prepared statements and connection settings would reach other clients, and every
    search would fail. Unknown (the database is down): the API starts and degrades."""
    if not transaction_pooler and await behind_a_pooler(url):
        host = url.split("@")[-1]
        raise PoolerMisconfiguredError(
            f"{host} is a connection pooler (PgBouncer?), not PostgreSQL itself: set "
            "DB_TRANSACTION_POOLER=true, or connect the API to PostgreSQL directly"
        )


def sqlstate(error: BaseException) -> str:
    """The SQLSTATE PostgreSQL answered with (empty when none)."""
    if isinstance(error, DBAPIError) and isinstance(error.orig, Exception):
        error = error.orig
    return str(getattr(error, "sqlstate", None) or "")


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database can't serve now rather than that the statement is
    wrong: it is down, restarting, out of connections, cancelled the statement, or could
    not have a lock in time."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeoutError | OSError):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return sqlstate(error).startswith(_UNAVAILABLE_SQLSTATES)


@dataclass(frozen=True, slots=True)
class SlowStatementLog:
    """Logs each statement that takes longer than `info_ms` (at INFO) or `warning_ms` (at
    WARNING), by the start of its SQL. The SQL carries placeholders, never values."""

    info_ms: float
    warning_ms: float

    def took(self, statement: str, took_ms: float) -> None:
        if took_ms < self.info_ms:
            return
        level = logging.WARNING if took_ms >= self.warning_ms else logging.INFO
        shown = re.sub(r"\s+", " ", statement).strip()[:_STATEMENT_SHOWN]
        logger.log(level, "slow statement (%.0f ms): %s", took_ms, shown)

    def watch(self, engine: AsyncEngine) -> None:
        """Every statement `engine` runs."""

        def started(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            conn.info["statement_started"] = time.perf_counter()  # one statement at a time

        def finished(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            self.took(statement, (time.perf_counter() - conn.info["statement_started"]) * 1000)

        event.listen(engine.sync_engine, "before_cursor_execute", started)
        event.listen(engine.sync_engine, "after_cursor_execute", finished)


class ReadPool:
    """Single reads that cost one round trip each, on a direct connection to PostgreSQL
    whose connections start with the settings the reads' plans need: no transaction
    around a statement, no ping before it, nothing sent to reset a connection after it
    (a read changes no setting), and, once a connection has prepared the statement, only
    its values sent. The hot statements skip SQLAlchemy's engine, execution and result
    layers: a compiled statement goes to an asyncpg pool, and its rows come back as the
    driver made them.

    The driver prepares a statement again by itself when a schema change has made it
    stale. A connection PostgreSQL has closed (a restart, an idle timeout) fails its first
    statement: the pool then drops it, and the read, being a read, runs once more. Not for
    use behind a transaction-mode pooler, which would hand the settings to other clients."""

    def __init__(
        self,
        url: str,
        connection_settings: Mapping[str, str],
        size: int = 10,
        timeout_s: float = 5,
        slow_log: SlowStatementLog | None = None,
        in_use: Callable[[int], None] = lambda change: None,
    ) -> None:
        self.size = size
        self._dsn = asyncpg_dsn(url)
        self._server_settings = read_pool_server_settings(connection_settings)
        self._timeout_s = timeout_s
        self._slow_log = slow_log
        self._in_use = in_use
        self._pool: asyncpg.Pool | None = None

    async def fetch(self, statement: ClauseElement, values: Mapping[str, Any]) -> list[Record]:
        driven = compiled(statement)
        arguments = driven.arguments(values)
        rows = await self._fetch(driven.sql, arguments)
        if rows is None:
            rows = await self._fetch(driven.sql, arguments)
        if rows is None:
            raise ConnectionDoesNotExistError("the connection closed while reading")
        return rows

    async def _fetch(self, sql: str, arguments: list[Any]) -> list[Record] | None:
        """The rows, or None if the connection turned out closed."""
        async with self.connection() as connection:
            started = time.perf_counter()
            try:
                rows: list[Record] = await connection.fetch(sql, *arguments)
            except Exception:
                if not _lost(connection):
                    raise
                return None
        if self._slow_log:
            self._slow_log.took(sql, (time.perf_counter() - started) * 1000)
        return rows

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[PoolConnectionProxy]:
        """One of the pool's connections, for as long as the block runs. PoolTimeoutError
        when none is free within the pool's timeout."""
        pool = await self._started()
        try:  # the pool's own timeout would wait in a task of its own
            async with asyncio.timeout(self._timeout_s):
                connection = await pool.acquire()
        except TimeoutError as error:
            raise PoolTimeoutError(f"no free connection within {self._timeout_s} s") from error
        self._in_use(1)
        try:
            yield connection
        finally:
            self._in_use(-1)
            await pool.release(connection)

    async def _started(self) -> asyncpg.Pool:
        """The asyncpg pool, made in the running event loop on first use."""
        if self._pool is None:
            pool = asyncpg.create_pool(
                self._dsn,
                min_size=0,
                max_size=self.size,
                server_settings=self._server_settings,
                reset=_unchanged,
            )
            await pool
            if self._pool is None:
                self._pool = pool
            else:  # another read made one meanwhile
                await pool.close()
        return self._pool

    async def dispose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _lost(connection: PoolConnectionProxy) -> bool:
    """Whether the connection has closed (the pool lets go of one as it closes)."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:  # let go of already
        return True


async def _unchanged(connection: Connection) -> None:
    """What a read pool sends to reset a connection it gets back: nothing (a read leaves
    no setting, transaction or listener behind)."""


class Compiled(NamedTuple):
    """A statement as the driver takes it: its SQL, its parameters' names in positional
    order, and the values of those it binds itself (literals such as an SRID)."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] if name in values else self.defaults[name] for name in self.names]


@functools.lru_cache(maxsize=64)
def compiled(statement: ClauseElement, dialect: Dialect = ASYNCPG) -> Compiled:
    """The hot statements are built once per shape (db.nearest.Bound), so each is compiled
    once."""
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    return Compiled(str(compiled), tuple(compiled.positiontup or ()), dict(compiled.params))


def read_pool_server_settings(connection_settings: Mapping[str, str]) -> dict[str, str]:
    """What a read pool's connections start with. Prepared statements live as long as the
    connection there, so each statement is parsed once per connection. Each execution is
    still planned for its own values: a generic plan would evaluate a search's center anew
    for every row it visits."""
    return {**connection_settings, "plan_cache_mode": "force_custom_plan"}
