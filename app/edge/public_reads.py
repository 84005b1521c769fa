"""The servers public reads (searches, profiles, open route orders) can be made on: the
primary, and a streaming replica when DATABASE_REPLICA_URL is set (db.replica). Writes,
and the reads a user makes of their own data, always go to the primary."""

from collections.abc import Awaitable, Callable, Collection
from typing import NamedTuple, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.edge.metrics import pool_gauges, public_read
from app.settings import Settings
from db.engine import ReadPool, SlowStatementLog, Timeouts, make_engine
from db.nearest import index_ordered_connection_settings
from db.profiles import places_of
from db.replica import NEWEST_WRITE, PublicReads, Replica, ReplicaPolicy
from db.route_orders import OpenOrderSearch
from db.search import ProviderSearch
from db.search_cache import SearchCache

A = TypeVar("A")
T = TypeVar("T")


class PublicServer(NamedTuple):
    sessions: Callable[[], AsyncSession]
    providers: ProviderSearch
    orders: OpenOrderSearch


class Servers(NamedTuple):
    public_reads: PublicReads[PublicServer]
    engines: dict[str, AsyncEngine]
    """Every engine, by the name its pool's metrics carry."""
    read_pools: list[ReadPool]
    """The index-ordered searches' pools, which count their connections themselves."""


def database_engine(
    settings: Settings, url: str, pool_size: int | None = None, max_overflow: int | None = None
) -> AsyncEngine:
    """An engine of the API's: its pool (the settings' size unless given one), and every
    transaction under the timeouts."""
    return make_engine(
        url,
        pool_size=settings.db_pool_size if pool_size is None else pool_size,
        max_overflow=settings.db_max_overflow if max_overflow is None else max_overflow,
        pool_timeout_s=settings.db_pool_timeout_s,
        timeouts=Timeouts(
            settings.db_statement_timeout_ms,
            settings.db_lock_timeout_ms,
            settings.db_idle_in_transaction_timeout_ms,
        ),
        per_transaction=settings.db_transaction_pooler,
    )


def index_ordered_search_pool(
    settings: Settings, url: str, slow_log: SlowStatementLog, name: str
) -> ReadPool | None:
    """Connections for index-ordered searches that carry their planner settings from the
    start; none behind a transaction-mode pooler (db.nearest). `name` is the one its
    metrics carry."""
    if settings.db_transaction_pooler:
        return None
    size = settings.db_pool_size + settings.db_max_overflow
    return ReadPool(
        url,
        index_ordered_connection_settings(settings.db_statement_timeout_ms),
        size=size,
        timeout_s=settings.db_pool_timeout_s,
        slow_log=slow_log,
        in_use=pool_gauges(name, size),
    )


def _server(
    settings: Settings,
    url: str,
    sessions: Callable[[], AsyncSession],
    slow_log: SlowStatementLog,
    pool_name: str,
) -> tuple[PublicServer, ReadPool | None]:
    pool = index_ordered_search_pool(settings, url, slow_log, pool_name)
    timeout = settings.db_statement_timeout_ms
    return PublicServer(
        sessions, ProviderSearch(timeout, pool), OpenOrderSearch(timeout, pool)
    ), pool


def servers(
    settings: Settings,
    engine: AsyncEngine,
    sessions: Callable[[], AsyncSession],
    slow_log: SlowStatementLog,
    search_cache: SearchCache,
) -> Servers:
    """The primary (`engine`, whose sessions the app's are) and the replica, if any."""
    primary, primary_pool = _server(settings, settings.database_url, sessions, slow_log, "knn")
    engines = {"main": engine}
    read_pools = [primary_pool] if primary_pool else []
    if not settings.database_replica_url:
        return Servers(PublicReads(primary), engines, read_pools)
    replica_engine = database_engine(settings, settings.database_replica_url)
    slow_log.watch(replica_engine)
    replica_sessions = async_sessionmaker(replica_engine, expire_on_commit=False)
    replica, replica_pool = _server(
        settings, settings.database_replica_url, replica_sessions, slow_log, "replica-knn"
    )
    engines["replica"] = replica_engine
    read_pools += [replica_pool] if replica_pool else []
    state = Replica(replica_engine, ReplicaPolicy(max_lag_s=settings.db_replica_max_lag_s))
    reads = PublicReads(primary, (replica, state), search_cache.written_at, public_read)
    return Servers(reads, engines, read_pools)


async def read_public(
    public_reads: PublicReads[PublicServer],
    read: Callable[[PublicServer, A], Awaitable[T]],
    asked: A,
    seeing: int | object | None = NEWEST_WRITE,
) -> T:
    """`read(server, asked)` on the server public reads may be made on (the replica, when
    it has replayed the write at WAL position `seeing`), and again on the primary when it
    fails on the replica."""
    chosen = await public_reads.choose(seeing)
    try:
        async with chosen.deadline():
            result = await read(chosen.server, asked)
    except Exception as error:
        primary = public_reads.failed(chosen, error)
        if primary is None:
            raise
        return await read(primary, asked)
    public_reads.done(chosen)
    return result


async def commit_public_write(
    session: AsyncSession, search_cache: SearchCache, calendars_of: Collection[int] = ()
) -> None:
    """Commit a write public reads must see (open route orders; with `calendars_of`, the
    free time of these providers, whose cached reads it ends); with a replica, a read
    after it then waits for the replica or goes to the primary."""
    await session.commit()
    if calendars_of:
        await search_cache.calendars_changed(await places_of(session, calendars_of), session)
    else:
        await search_cache.wrote(session)
