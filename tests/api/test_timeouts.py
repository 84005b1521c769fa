"""Every transaction of the API runs under a statement timeout, a lock timeout and an
idle-in-transaction timeout (db.engine.Timeouts), set on each connection or, behind
PgBouncer, on each transaction. A row held by a stuck transaction makes a booking or a
route a fast 503 with Retry-After instead of a request that waits behind it."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import Settings
from db.databases import asyncpg_dsn
from tests.support.accounts import sign_up
from tests.support.bookings import Client, days_ahead, open_provider, request_booking, stockholm
from tests.support.routes import ROUTES, orders_around, route_body

pytestmark = pytest.mark.pgbouncer

SHORT_MS = 300
FAST_S = 2.0
"""A request behind a held row answers within this, far below the wait it would have had."""


@asynccontextmanager
async def client_with(settings: Settings, **changed: int) -> AsyncIterator[Client]:
    app: Litestar = create_app(msgspec.structs.replace(settings, **changed))
    async with AsyncTestClient(app=app) as client:
        yield client


@asynccontextmanager
async def row_held(database_url: str, provider_id: int) -> AsyncIterator[None]:
    """A transaction elsewhere that locks the provider's row and does nothing more."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute("SELECT 1 FROM providers WHERE id = $1 FOR UPDATE", provider_id)
        yield
    finally:
        await transaction.rollback()
        await connection.close()


@pytest.mark.parametrize(
    "timeouts",
    [
        {"db_lock_timeout_ms": SHORT_MS, "db_statement_timeout_ms": 10_000},
        {"db_lock_timeout_ms": 10_000, "db_statement_timeout_ms": SHORT_MS},
    ],
    ids=["lock timeout", "statement timeout"],
)
async def test_a_booking_behind_a_held_row_is_a_fast_503(
    settings: Settings, database_url: str, timeouts: dict[str, int]
) -> None:
    async with client_with(settings, **timeouts) as client:
        provider = await open_provider(client)
        customer = await sign_up(client, "customer")
        start = stockholm(days_ahead(5), 10)
        async with row_held(database_url, provider.id):
            began = time.perf_counter()
            held = await request_booking(client, customer, provider, start)
            took_s = time.perf_counter() - began
        released = await request_booking(client, customer, provider, start)
    assert held.status_code == 503, held.text
    assert int(held.headers["Retry-After"]) >= 1
    assert SHORT_MS / 1000 <= took_s < FAST_S
    assert released.status_code == 201, released.text


async def test_a_route_behind_a_held_row_is_a_fast_503(
    settings: Settings, database_url: str
) -> None:
    async with client_with(settings, db_lock_timeout_ms=SHORT_MS) as client:
        provider = await open_provider(client)
        customer = await sign_up(client, "customer")
        orders = await orders_around(client, customer, 3, seed=31)
        body = route_body(provider, orders)
        async with row_held(database_url, provider.id):
            began = time.perf_counter()
            held = await client.post(ROUTES, json=body, headers=provider.owner.headers)
            took_s = time.perf_counter() - began
        released = await client.post(ROUTES, json=body, headers=provider.owner.headers)
    assert held.status_code == 503, held.text
    assert held.headers["Retry-After"] == "1"
    assert held.json()["detail"] == "database busy, try again shortly"
    assert took_s < FAST_S
    assert released.status_code == 201, released.text
