"""The pool index-ordered searches run on when no transaction-mode pooler sits between:
its connections carry the planner settings, keep custom plans for prepared statements,
and a search survives a connection PostgreSQL has dropped or a statement a schema change
has made stale."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import ReadPool
from db.nearest import index_ordered_connection_settings
from db.search import NearbyQuery, ProviderSearch, nearby_statement
from geo.strategies import SearchStrategy
from tests.integration.test_search_plan import DENSEST, assert_index_ordered
from tests.support.plans import explained_on

QUERY = NearbyQuery(DENSEST, 10_000, limit=20)
SETTINGS = index_ordered_connection_settings(statement_timeout_ms=10_000)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[ReadPool]:
    """One connection, so that every search in a test meets the same one."""
    pool = ReadPool(database_url, SETTINGS, size=1)
    yield pool
    await pool.dispose()


async def _nearby_ids(pool: ReadPool) -> list[int]:
    page = await ProviderSearch(10_000, pool).nearby(AsyncSession, QUERY, SearchStrategy.gist)
    return [hit.id for hit in page.items]


async def _setting(pool: ReadPool, name: str) -> str:
    async with pool.connection() as connection:
        return str(await connection.fetchval(f"SHOW {name}"))


async def test_its_connections_start_with_the_settings_of_an_index_ordered_plan(
    pool: ReadPool,
) -> None:
    shown = {name: await _setting(pool, name) for name in SETTINGS}
    assert shown == {**SETTINGS, "statement_timeout": "10s"}
    async with pool.connection() as connection:  # no settings sent: the connection has them
        explained = await explained_on(connection, *nearby_statement(QUERY, SearchStrategy.gist))
    assert_index_ordered(explained["Plan"], max_rows_read=1500)


async def _plans_of_the_prepared_search(pool: ReadPool) -> tuple[int, int]:
    async with pool.connection() as connection:
        [(generic, custom)] = await connection.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE 'SELECT nearest.%'"
        )
    return generic, custom


@pytest.mark.parametrize("plan_cache_mode", [None, "auto"])
async def test_a_search_prepared_once_is_planned_for_its_values_every_time(
    database_url: str, plan_cache_mode: str | None
) -> None:
    """After five executions PostgreSQL may settle on a generic plan, in which the center
    is computed again for every row the scan visits; the pool's connections forbid it
    (and with PostgreSQL's default, `auto`, it happens)."""
    pool = ReadPool(database_url, SETTINGS, size=1)
    try:
        if plan_cache_mode:
            async with pool.connection() as connection:
                await connection.execute(f"SET plan_cache_mode = {plan_cache_mode}")
        for _ in range(10):
            await _nearby_ids(pool)
        generic, custom = await _plans_of_the_prepared_search(pool)
    finally:
        await pool.dispose()
    if plan_cache_mode is None:
        assert (generic, custom) == (0, 10)
    else:
        assert generic > 0


async def test_a_search_survives_a_connection_postgresql_has_dropped(
    pool: ReadPool, engine: AsyncEngine
) -> None:
    expected = await _nearby_ids(pool)
    async with pool.connection() as connection:
        pid = connection.get_server_pid()
    async with engine.connect() as admin:
        assert await admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert await _nearby_ids(pool) == expected
    async with pool.connection() as connection:
        assert connection.get_server_pid() != pid


async def test_a_search_survives_a_schema_change_under_its_prepared_statement(
    pool: ReadPool, engine: AsyncEngine
) -> None:
    expected = await _nearby_ids(pool)
    column = "ALTER TABLE providers ALTER COLUMN business_name TYPE {}"
    async with engine.begin() as admin:
        await admin.execute(text(column.format("text")))
    try:
        assert await _nearby_ids(pool) == expected
    finally:
        async with engine.begin() as admin:
            await admin.execute(text(column.format("varchar(200)")))
