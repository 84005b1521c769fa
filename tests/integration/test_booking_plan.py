"""My bookings read their index, on either side, among 60,000 bookings."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.bookings import BookingsQuery, Side, bookings_statement
from geo.cursor import TimeKey
from tests.support.plans import explain, nodes

# A year of a busy diary: about a visit a day for each provider.
PROVIDERS = 200
VISITS_EACH = 300
CUSTOMERS = 100


@dataclass(frozen=True)
class Sample:
    customer_id: int
    provider_owner_id: int


@pytest.fixture(scope="module")
async def sample(engine: AsyncEngine) -> AsyncIterator[Sample]:
    """60,000 hour-long visits, 300 for each of 200 providers, by 100 customers."""
    async with engine.begin() as connection:
        customers = (
            (
                await connection.execute(
                    text("SELECT id FROM users ORDER BY id LIMIT :n"), {"n": CUSTOMERS}
                )
            )
            .scalars()
            .all()
        )
        # A pooled connection keeps the plans it made when bookings was small: one that
        # checks each new commitment's booking by scanning bookings made this one statement
        # scan its own growing rows 60,000 times (80 s instead of 4 s).
        await connection.execute(text("DISCARD PLANS"))
        await connection.execute(
            text(
                "INSERT INTO bookings (provider_id, customer_id, service_id, horse_name, during)"
                " SELECT s.provider_id, (CAST(:customers AS bigint[]))[1 + (s.provider_id + n)"
                " % :n_customers], s.id, 'Plan', tstzrange("
                " timestamptz '2031-01-01' + n * interval '1 hour',"
                " timestamptz '2031-01-01' + (n + 1) * interval '1 hour')"
                " FROM (SELECT DISTINCT ON (provider_id) provider_id, id FROM services"
                "       ORDER BY provider_id, id LIMIT :providers) s,"
                " generate_series(1, :visits) n"
            ),
            {
                "customers": list(customers),
                "n_customers": CUSTOMERS,
                "providers": PROVIDERS,
                "visits": VISITS_EACH,
            },
        )
        owner = (
            await connection.execute(
                text(
                    "SELECT p.user_id FROM bookings b JOIN providers p"
                    " ON p.id = b.provider_id WHERE b.horse_name = 'Plan' LIMIT 1"
                )
            )
        ).scalar_one()
        await connection.execute(text("ANALYZE bookings"))
    yield Sample(int(customers[0]), int(owner))
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM bookings WHERE horse_name = 'Plan'"))


AFTER = TimeKey(datetime(2031, 1, 1, 3, tzinfo=UTC), 0)


@pytest.mark.parametrize("after", [None, AFTER], ids=["first page", "later page"])
async def test_the_customer_side_is_an_ordered_index_scan(
    db_session: AsyncSession, sample: Sample, after: TimeKey | None
) -> None:
    query = BookingsQuery(Side.customer, 21, after=after)
    statement = bookings_statement(sample.customer_id, query)
    plan = await explain(db_session, statement)
    kinds = {node["Node Type"] for node in nodes(plan)}
    assert not kinds & {"Seq Scan", "Sort", "Bitmap Heap Scan"}, kinds
    [scan] = [node for node in nodes(plan) if node["Node Type"] == "Index Scan"]
    assert scan["Index Name"] == "bookings_customer_start_idx"


async def test_the_provider_side_pages_through_the_diary_by_index(
    db_session: AsyncSession, sample: Sample
) -> None:
    statement = bookings_statement(sample.provider_owner_id, BookingsQuery(Side.provider, 21))
    plan = await explain(db_session, statement)
    scanned = {
        node.get("Relation Name"): node for node in nodes(plan) if "Scan" in node["Node Type"]
    }
    assert scanned["bookings"]["Node Type"] == "Index Scan"
    assert scanned["bookings"]["Index Name"] == "bookings_provider_start_idx"
    assert scanned["bookings"]["Actual Rows"] == 21  # a page, not the whole diary
    assert plan["Actual Rows"] == 21
