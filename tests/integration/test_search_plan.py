"""The gist strategy is an index-ordered KNN scan at every radius, as EXPLAIN shows."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.nearest import lent
from db.route_orders import (
    AvailableQuery,
    CorridorQuery,
    OpenOrderSearch,
    available_statement,
    corridor_statement,
)
from db.search import (
    NearbyQuery,
    ProviderSearch,
    in_view_statement,
    nearby_statement,
)
from geo.cursor import DistanceKey
from geo.distance import Point
from geo.strategies import SearchStrategy
from geo.viewport import parse_viewport
from tests.support.plans import explain, nodes

DENSEST = Point(59.3294, 18.0687)  # Stockholm: the biggest town, so the densest cluster
SEARCH = ProviderSearch(statement_timeout_ms=10_000)
ORDER_SEARCH = OpenOrderSearch(statement_timeout_ms=10_000)
UNORDERED = {"Bitmap Heap Scan", "Bitmap Index Scan", "Sort", "Gather", "Gather Merge", "Seq Scan"}


def assert_index_ordered(
    plan: dict[str, Any], max_rows_read: int, index: str = "providers_location_active_gist"
) -> None:
    kinds = [node["Node Type"] for node in nodes(plan)]
    assert not UNORDERED & set(kinds), kinds
    [scan] = [node for node in nodes(plan) if node["Node Type"] == "Index Scan"]
    assert scan["Index Name"] == index
    assert "<->" in scan["Order By"]
    # Streaming: the scan stops after about a page, however many points the radius holds.
    read = scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0)
    assert read <= max_rows_read, read


@pytest.mark.parametrize("radius_km", [1, 10, 50, 100])
@pytest.mark.parametrize("category", [None, "farrier", "dentist"])
async def test_gist_nearby_is_an_index_ordered_knn_scan(
    db_session: AsyncSession, radius_km: float, category: str | None
) -> None:
    await SEARCH.apply(db_session, index_ordered=True)
    query = NearbyQuery(DENSEST, radius_km * 1000, limit=100, category=category)
    plan = await explain(db_session, *nearby_statement(query, SearchStrategy.gist))
    assert_index_ordered(plan, max_rows_read=1500)


async def test_gist_plan_holds_for_a_later_page(db_session: AsyncSession) -> None:
    await SEARCH.apply(db_session, index_ordered=True)
    query = NearbyQuery(DENSEST, 100_000, limit=100, after=DistanceKey(2_000.0, 1))
    plan = await explain(db_session, *nearby_statement(query, SearchStrategy.gist))
    assert_index_ordered(plan, max_rows_read=5000)


async def test_in_view_is_an_index_ordered_knn_scan(db_session: AsyncSession) -> None:
    await SEARCH.apply(db_session, index_ordered=True)
    viewport = parse_viewport("16.5,58.5,19.5,60.5")
    plan = await explain(db_session, *in_view_statement(viewport, None, 100))
    assert_index_ordered(plan, max_rows_read=1500)


SEED_ORDERS = (
    "INSERT INTO route_orders (customer_id, category, latitude, longitude, earliest,"
    " latest, status) SELECT (SELECT min(id) FROM users), 'farrier',"
    " 59.33 + (random() - 0.5), 18.07 + (random() - 0.5) * 2,"
    " DATE '2031-03-01' + (n % 60), DATE '2031-03-07' + (n % 60),"
    " CAST((ARRAY['open', 'open', 'open', 'cancelled'])[n % 4 + 1] AS route_order_status)"
    " FROM generate_series(1, 20000) AS n"
)


async def test_available_orders_are_an_index_ordered_scan_of_open_orders(
    db_session: AsyncSession,
) -> None:
    """20,000 orders around Stockholm, a quarter of them no longer open, windows of a week
    starting over two months: the scan streams open orders and checks the window per row."""
    await db_session.execute(text(SEED_ORDERS))
    await db_session.execute(text("ANALYZE route_orders"))
    await ORDER_SEARCH.apply(db_session, index_ordered=True)
    query = AvailableQuery(DENSEST, 50_000, date(2031, 3, 20), limit=100, category="farrier")
    plan = await explain(db_session, *available_statement(query))
    assert_index_ordered(plan, max_rows_read=2000, index="route_orders_open_location_gist")


async def test_orders_along_a_route_are_found_on_the_open_orders_gist_index(
    db_session: AsyncSession,
) -> None:
    """The same 20,000 orders; a corridor of 5 km around a 60 km route is a GiST lookup of
    the open orders near the line, not a scan of the table."""
    await db_session.execute(text(SEED_ORDERS))
    await db_session.execute(text("ANALYZE route_orders"))
    await ORDER_SEARCH.apply(db_session, index_ordered=False)
    path = [Point(59.2, 17.6), DENSEST, Point(59.5, 18.6)]
    query = CorridorQuery(path, 5000, date(2031, 3, 20), limit=20, weighed=1000)
    plan = await explain(db_session, *corridor_statement(query))
    scans = {node["Node Type"]: node for node in nodes(plan) if "Scan" in node["Node Type"]}
    assert "Seq Scan" not in scans, scans
    indexes = {node.get("Index Name") for node in nodes(plan)}
    assert "route_orders_open_location_gist" in indexes, indexes


async def test_without_the_settings_the_planner_falls_into_the_sort_trap(
    db_session: AsyncSession,
) -> None:
    """The seeded data is dense enough to tempt the planner, so the tests above mean something."""
    await SEARCH.apply(db_session, index_ordered=False)
    query = NearbyQuery(DENSEST, 100_000, limit=100)
    plan = await explain(db_session, *nearby_statement(query, SearchStrategy.gist))
    assert {"Bitmap Heap Scan", "Sort"} <= {node["Node Type"] for node in nodes(plan)}


NEAR = NearbyQuery(DENSEST, 1000, limit=1)
VIEW = parse_viewport("18,59.3,18.1,59.4")
SEARCHES: dict[str, Callable[[AsyncSession], Awaitable[object]]] = {
    "nearby gist": lambda session: SEARCH.nearby(lent(session), NEAR, SearchStrategy.gist),
    "nearby bbox": lambda session: SEARCH.nearby(lent(session), NEAR, SearchStrategy.bbox),
    "in view": lambda session: SEARCH.in_view(lent(session), VIEW, None, 1),
    "clusters": lambda session: SEARCH.clusters(lent(session), VIEW, 10, None),
}
INDEX_ORDERED = {"nearby gist", "in view"}


@pytest.mark.parametrize("search", SEARCHES)
async def test_each_search_sets_what_its_plan_needs_for_its_transaction_only(
    db_session: AsyncSession, search: str
) -> None:
    async def setting(name: str) -> str | None:
        return await db_session.scalar(select(func.current_setting(name)))

    before = {name: await setting(name) for name in ("enable_bitmapscan", "statement_timeout")}
    await db_session.commit()
    await SEARCHES[search](db_session)
    assert await setting("enable_bitmapscan") == ("off" if search in INDEX_ORDERED else "on")
    assert await setting("statement_timeout") == "10s"
    assert await setting("jit") == "off"
    await db_session.commit()  # not a rollback: that would undo even a session-wide SET
    assert {name: await setting(name) for name in before} == before


@pytest.mark.parametrize("strategy", [SearchStrategy.gist, SearchStrategy.bbox])
async def test_a_nearby_statement_reads_one_row_more_than_a_page(
    db_session: AsyncSession, strategy: SearchStrategy
) -> None:
    """Enough to know that more follow, and no more: the radius holds thousands."""
    query = NearbyQuery(DENSEST, 50_000, limit=20)
    rows = (await db_session.execute(*nearby_statement(query, strategy))).all()
    assert len(rows) == 21


async def test_a_page_of_nearest_providers_sits_on_a_few_heap_pages(
    db_session: AsyncSession,
) -> None:
    """The seed leaves the table in spatial order (db.seed.order_by_location): the hundred
    providers nearest the densest town share about 10 heap pages; in insertion order they
    sit on about 95, one page nearly each."""
    pages = await db_session.scalar(
        text(
            "SELECT count(DISTINCT (p.ctid::text::point)[0]) FROM providers p JOIN ("
            " SELECT id FROM providers WHERE is_active"
            " ORDER BY location <-> ST_MakePoint(:lng, :lat)::geography LIMIT 100"
            ") nearest USING (id)"
        ),
        {"lat": DENSEST.latitude, "lng": DENSEST.longitude},
    )
    assert pages is not None
    assert pages <= 20, pages
