"""Through PgBouncer in transaction mode, nearby search keeps its index-ordered plan: its
planner settings travel in the search's own transaction (db.nearest). Runs in make test's
PgBouncer pass, where the API tests marked `pgbouncer` run through it too."""

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.settings import Settings
from db.databases import direct_url, sibling_url
from db.engine import PoolerMisconfiguredError, behind_a_pooler, make_engine
from db.search import NearbyQuery, ProviderSearch, nearby_statement
from geo.strategies import SearchStrategy
from tests.integration.test_search_plan import DENSEST, assert_index_ordered
from tests.support.plans import explain
from tests.support.ports import closed_port

pytestmark = pytest.mark.pgbouncer


@pytest.fixture
async def pooled_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session through PgBouncer, as the app's when DB_TRANSACTION_POOLER=true."""
    if not settings.db_transaction_pooler:
        pytest.skip("runs in make test's PgBouncer pass")
    engine = make_engine(settings.database_url)
    async with AsyncSession(engine) as session:
        yield session
    await engine.dispose()


@pytest.mark.parametrize("radius_km", [10, 100])
async def test_nearby_keeps_its_knn_plan_through_pgbouncer(
    pooled_session: AsyncSession, radius_km: int
) -> None:
    await ProviderSearch(statement_timeout_ms=10_000).apply(pooled_session, index_ordered=True)
    query = NearbyQuery(DENSEST, radius_km * 1000, limit=100)
    plan = await explain(pooled_session, *nearby_statement(query, SearchStrategy.gist))
    assert_index_ordered(plan, max_rows_read=1500)


@pytest.fixture
def pooled_settings(settings: Settings) -> Settings:
    """The suite's settings through PgBouncer (DB_TRANSACTION_POOLER=true)."""
    if not settings.db_transaction_pooler:
        pytest.skip("runs in make test's PgBouncer pass")
    return settings


async def test_the_api_refuses_to_start_behind_pgbouncer_unless_told_of_it(
    pooled_settings: Settings,
) -> None:
    """Without DB_TRANSACTION_POOLER every search would fail at its prepared statement:
    a misconfiguration said at start, not found by users."""
    misconfigured = msgspec.structs.replace(pooled_settings, db_transaction_pooler=False)
    with pytest.raises(ExceptionGroup) as start:
        async with AsyncTestClient(app=create_app(misconfigured)):
            pass
    assert start.group_contains(PoolerMisconfiguredError, match="set DB_TRANSACTION_POOLER=true")
    async with AsyncTestClient(app=create_app(pooled_settings)) as client:
        assert (await client.get("/health")).status_code == 200


async def test_a_pooler_is_told_apart_from_postgresql_itself(pooled_settings: Settings) -> None:
    database = str(make_url(pooled_settings.database_url).database)
    direct = sibling_url(str(direct_url()), database)
    assert await behind_a_pooler(pooled_settings.database_url) is True
    assert await behind_a_pooler(direct) is False
    assert await behind_a_pooler(f"postgresql://nobody@127.0.0.1:{closed_port()}/x") is None
