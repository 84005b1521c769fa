"""Every transaction of the API runs under a statement timeout, a lock timeout and an
idle-in-transaction timeout (db.engine.Timeouts), set on each connection or, behind
PgBouncer, on each transaction. A row held by a stuck transaction makes a booking or a
route a fast 503 with Retry-After instead of a request that waits behind it. A provider's
day is a queue of short writes: a write waits its turn there up to the statement timeout."""

import contextlib
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


PROVIDER_ROW = "SELECT 1 FROM providers WHERE id = $1 FOR UPDATE"
DAY_ROW = "SELECT lock_provider_day($1, $2)"


@asynccontextmanager
async def row_held(
    database_url: str, locking: str, *args: object, settings: dict[str, str] | None = None
) -> AsyncIterator[None]:
    """A transaction elsewhere, on a connection with `settings`, that runs `locking` and
    does nothing more (its server may end it first: an idle-in-transaction timeout)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url), server_settings=settings)
    transaction = connection.transaction()
    await transaction.start()
    try:
        await connection.execute(locking, *args)
        yield
    finally:
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
            await transaction.rollback()
        connection.terminate()


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
        async with row_held(database_url, PROVIDER_ROW, provider.id):
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
        async with row_held(database_url, PROVIDER_ROW, provider.id):
            began = time.perf_counter()
            held = await client.post(ROUTES, json=body, headers=provider.owner.headers)
            took_s = time.perf_counter() - began
        released = await client.post(ROUTES, json=body, headers=provider.owner.headers)
    assert held.status_code == 503, held.text
    assert held.headers["Retry-After"] == "1"
    assert held.json()["detail"] == "database busy, try again shortly"
    assert took_s < FAST_S
    assert released.status_code == 201, released.text


async def test_a_booking_waits_its_turn_for_the_providers_day_past_the_lock_timeout(
    settings: Settings, database_url: str
) -> None:
    """Another write holds the day longer than the lock timeout, until the server ends its
    idle transaction: the booking waits for it and is booked, no 503."""
    held_ms = 4 * SHORT_MS
    async with client_with(settings, db_lock_timeout_ms=SHORT_MS) as client:
        provider = await open_provider(client)
        customer = await sign_up(client, "customer")
        start = stockholm(days_ahead(5), 10)
        ended = {"idle_in_transaction_session_timeout": str(held_ms)}
        async with row_held(database_url, DAY_ROW, provider.id, start.date(), settings=ended):
            began = time.perf_counter()
            booked = await request_booking(client, customer, provider, start)
            took_s = time.perf_counter() - began
    assert booked.status_code == 201, booked.text
    assert took_s >= held_ms / 1000


async def test_a_write_behind_a_stuck_providers_day_is_a_503_at_the_statement_timeout(
    settings: Settings, database_url: str
) -> None:
    statement_ms = 3 * SHORT_MS
    timeouts = {"db_lock_timeout_ms": SHORT_MS, "db_statement_timeout_ms": statement_ms}
    async with client_with(settings, **timeouts) as client:
        provider = await open_provider(client)
        customer = await sign_up(client, "customer")
        start = stockholm(days_ahead(5), 10)
        async with row_held(database_url, DAY_ROW, provider.id, start.date()):
            began = time.perf_counter()
            held = await request_booking(client, customer, provider, start)
            took_s = time.perf_counter() - began
    assert held.status_code == 503, held.text
    assert int(held.headers["Retry-After"]) >= 1
    assert statement_ms / 1000 <= took_s < FAST_S
