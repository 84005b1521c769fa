"""Shared fixtures: a throwaway, migrated and seeded database in the real PostGIS, and the app.

`make test` provides DATABASE_URL and REDIS_URL (local services or the ones you set); the
suite creates its own database next to the one in DATABASE_URL and drops it afterwards,
and uses a Redis database number of its own.
"""

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis import Redis as SyncRedis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.main import create_app
from app.rate_limits import RateLimits
from app.settings import Settings
from db.databases import asyncpg_dsn, create_database, drop_database, migrate, sibling_url
from db.engine import make_engine
from db.seed import seed

SEEDED_PROVIDERS = 30_000
# The suite signs up many accounts from one test client; tests of the limits set their own.
UNLIMITED = RateLimits(
    login="10000/minute", register="10000/minute", geocode="10000/minute", booking="10000/minute"
)
# Far enough ahead for the next spring and autumn clock changes, whatever today is.
BOOKING_HORIZON_DAYS = 400
REDIS_TEST_DB = 15


@dataclass(frozen=True)
class EdgeProvider:
    name: str
    latitude: float
    longitude: float


# Hand-placed providers where coordinates get awkward, next to the seeded ones.
EDGE_PROVIDERS = [
    EdgeProvider("North Pole A", 90.0, 0.0),
    EdgeProvider("North Pole B", 90.0, 120.0),
    EdgeProvider("Near North Pole", 89.95, -60.0),
    EdgeProvider("South Pole", -90.0, 45.0),
    EdgeProvider("Chukotka East", 65.0, 179.95),
    EdgeProvider("Chukotka West", 65.0, -179.95),
    EdgeProvider("Dateline Equator", 0.0, 180.0),
]


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the tests with `make test`", returncode=2)
    return value


async def _load_data(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await seed(connection, SEEDED_PROVIDERS, rng_seed=7)
        owner = await connection.fetchval(
            "INSERT INTO users (email, password_hash, role) "
            "VALUES ('edge@example.invalid', '!', 'provider') RETURNING id"
        )
        await connection.executemany(
            "INSERT INTO providers (user_id, business_name, city, latitude, longitude, categories)"
            " VALUES ($1, $2, 'Edge', $3, $4, '{farrier}')",
            [(owner, p.name, p.latitude, p.longitude) for p in EDGE_PROVIDERS],
        )
        await connection.execute("ANALYZE providers")
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database, migrated with alembic and seeded, for the whole test session."""
    admin_url = _require("DATABASE_URL")
    name = f"equinet_test_{uuid.uuid4().hex[:12]}"
    url = sibling_url(admin_url, name)
    asyncio.run(create_database(admin_url, name))
    try:
        migrate(url)
        asyncio.run(_load_data(url))
        yield url
    finally:
        asyncio.run(drop_database(admin_url, name))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The suite's own Redis database, emptied first: cached pages of an earlier run's
    database must not answer for this one."""
    url = make_url(_require("REDIS_URL").replace("redis://", "postgresql://", 1))
    test_url = (
        url.set(database=str(REDIS_TEST_DB))
        .render_as_string(hide_password=False)
        .replace("postgresql://", "redis://", 1)
    )
    client = SyncRedis.from_url(test_url)
    client.flushdb()
    client.close()
    return test_url


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret",
        rate_limits=UNLIMITED,
        booking_horizon_days=BOOKING_HORIZON_DAYS,
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose work is rolled back after the test."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session
        await session.rollback()


@dataclass(frozen=True)
class SignedIn:
    id: int
    email: str
    headers: dict[str, str]


async def sign_up(client: httpx.AsyncClient, role: str = "provider") -> SignedIn:
    """A new account of `role`, logged in."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "role": role}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return SignedIn(registered.json()["id"], email, {"Authorization": f"Bearer {token}"})
