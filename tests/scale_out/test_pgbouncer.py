"""Through PgBouncer in transaction mode, nearby search keeps its index-ordered plan: its
planner settings travel in the search's own transaction (db.nearest). Runs in make test's
PgBouncer pass, where the API tests marked `pgbouncer` run through it too."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.settings import Settings
from db.engine import make_engine
from db.search import NearbyQuery, ProviderSearch, nearby_statement
from geo.strategies import SearchStrategy
from tests.integration.test_search_plan import DENSEST, assert_index_ordered
from tests.support.plans import explain

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
