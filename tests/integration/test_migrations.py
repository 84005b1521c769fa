"""Migrations apply to an empty database, reverse completely, and apply again; the demo
seed loads into a fresh one."""

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from db.databases import (
    asyncpg_dsn,
    create_database,
    direct_url,
    drop_database,
    migrate,
    sibling_url,
)
from db.seed import seed, seed_command
from tests.support.suite import suite_template

TABLES = {
    "users",
    "providers",
    "provider_cells",
    "provider_days",
    "services",
    "availability",
    "availability_exceptions",
    "bookings",
    "commitments",
    "notifications",
    "places",
    "place_names",
    "route_orders",
    "routes",
    "route_stops",
    "outbox",
    "account_tokens",
    "exports",
    "calendar_feeds",
    "road_network",
    "road_vertices",
    "road_edges",
    "road_costs",
}


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch(
            # Tables an extension owns (PostGIS's spatial_ref_sys) stay: downgrades leave
            # extensions installed, as other schemas may use them.
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'alembic_version' "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"
        )
    finally:
        await connection.close()
    return {row["relname"] for row in rows}


@contextmanager
def empty_database(purpose: str) -> Iterator[str]:
    """A new, empty database beside the suite's; dropped afterwards. Yields its URL."""
    admin_url = str(direct_url())
    name = f"equinet_{purpose}_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_database(admin_url, name))
    try:
        yield sibling_url(admin_url, name)
    finally:
        asyncio.run(drop_database(admin_url, name))


def test_migrations_upgrade_downgrade_and_upgrade_again(database_url: str) -> None:
    with empty_database("migrations") as url:
        migrate(url)
        assert asyncio.run(_tables(url)) == TABLES
        migrate(url, "downgrade", "base")
        assert asyncio.run(_tables(url)) == set()
        migrate(url)
        assert asyncio.run(_tables(url)) == TABLES


async def _seed_with_calendars(url: str) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await seed(connection, 40, calendars=True)
        opening = await connection.fetch(
            "SELECT weekday, count(DISTINCT provider_id) FROM availability"
            " GROUP BY weekday ORDER BY weekday"
        )
        kinds = await connection.fetch(
            "SELECT kind::text, count(*) FROM commitments WHERE active GROUP BY kind ORDER BY kind"
        )
        owned = await connection.fetchval(
            "SELECT (SELECT count(*) FROM bookings) + (SELECT count(*) FROM route_stops)"
        )
        # Each commitment inside its provider's hours, on a working day, no exception's.
        outside = await connection.fetchval(
            "SELECT count(*) FROM commitments c JOIN providers p ON p.id = c.provider_id"
            " WHERE NOT EXISTS (SELECT FROM availability a WHERE a.provider_id = p.id"
            "   AND a.weekday = extract(isodow FROM lower(c.during) AT TIME ZONE p.timezone) - 1"
            "   AND a.opens <= (lower(c.during) AT TIME ZONE p.timezone)::time"
            "   AND (upper(c.during) AT TIME ZONE p.timezone)::time <= a.closes)"
            " OR EXISTS (SELECT FROM availability_exceptions e WHERE e.provider_id = p.id"
            "   AND e.date = (lower(c.during) AT TIME ZONE p.timezone)::date)"
        )
    finally:
        await connection.close()
    return {
        "opening": [(row[0], row[1]) for row in opening],
        "kinds": {row[0]: row[1] for row in kinds},
        "owned": owned,
        "outside": outside,
    }


def test_demo_seed_gives_every_provider_a_calendar(database_url: str) -> None:
    with empty_database("seed") as url:
        migrate(url)
        seeded = asyncio.run(_seed_with_calendars(url))
    assert seeded["opening"] == [(day, 40) for day in range(5)] + [(5, 10)]
    kinds = seeded["kinds"]
    assert set(kinds) == {"booking", "visit"}
    assert abs(kinds["booking"] - kinds["visit"]) <= kinds["visit"] // 5  # about half each
    assert sum(kinds.values()) == seeded["owned"] > 40 * 9 * 3
    assert seeded["outside"] == 0


async def _seed_with_orders(url: str) -> tuple[list[asyncpg.Record], int]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await seed(connection, 40, route_orders=25)
        orders = await connection.fetch(
            "SELECT o.status::text, o.earliest, o.latest, u.role::text,"
            " (SELECT min(p.location <-> o.location) FROM providers p"
            "   WHERE o.category = ANY(p.categories)) AS nearest_offering_m"
            " FROM route_orders o JOIN users u ON u.id = o.customer_id"
        )
        next_id = await connection.fetchval(
            "INSERT INTO route_orders (customer_id, category, latitude, longitude, earliest,"
            " latest) SELECT customer_id, category, 0, 0, earliest, latest FROM route_orders"
            " LIMIT 1 RETURNING id"
        )
    finally:
        await connection.close()
    return orders, next_id


def test_demo_seed_asks_for_visits_near_providers_that_offer_them(database_url: str) -> None:
    with empty_database("seed") as url:
        migrate(url)
        orders, next_id = asyncio.run(_seed_with_orders(url))
    today = date.today()
    assert len(orders) == 25
    for order in orders:
        assert (order["status"], order["role"]) == ("open", "customer")
        assert today < order["earliest"] <= order["latest"] <= today + timedelta(days=21)
        assert order["nearest_offering_m"] < 12_000
    assert next_id == 26  # the identity continues after the seeded rows


def _run_seed(url: str, monkeypatch: pytest.MonkeyPatch, **environ: str) -> None:
    """`python -m db.seed 5` in this process (SystemExit when it refuses)."""
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    asyncio.run(seed_command(5, if_empty=False, rng_seed=42, calendars=False, route_orders=0))


async def _emails(url: str) -> set[str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {row[0] for row in await connection.fetch("SELECT email FROM users")}
    finally:
        await connection.close()


async def _add_account(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            "INSERT INTO users (email, password_hash, role)"
            " VALUES ('stina@example.com', '$argon2id$v=19$...', 'customer')"
        )
    finally:
        await connection.close()


def test_seeding_leaves_real_accounts_alone_unless_told_to_replace_them(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_url = str(direct_url())
    name = f"equinet_seed_guard_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_database(admin_url, name, asyncio.run(suite_template(admin_url))))
    url = sibling_url(admin_url, name)
    try:
        _run_seed(url, monkeypatch)  # the seed's own accounts are no one's
        asyncio.run(_add_account(url))
        with pytest.raises(SystemExit, match="SEED_REPLACE=yes"):
            _run_seed(url, monkeypatch)
        assert "stina@example.com" in asyncio.run(_emails(url))
        _run_seed(url, monkeypatch, SEED_REPLACE="yes")
        assert "stina@example.com" not in asyncio.run(_emails(url))
    finally:
        asyncio.run(drop_database(admin_url, name))
