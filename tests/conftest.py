"""Fixtures only: a throwaway, migrated and seeded database in the real PostGIS, its Redis
database, the app and a client. Helpers live in tests/support/ (nothing imports this file).

`make test` provides DATABASE_URL and REDIS_URL (local services or the ones you set); the
suite creates its own database next to the one in DATABASE_URL and drops it afterwards,
and uses a Redis database number no other running suite holds.

`make test` runs the suite twice: first with the app connected to PostgreSQL itself, then,
with TEST_THROUGH_PGBOUNCER=1, the tests marked `pgbouncer` with the app going through
PgBouncer in transaction mode and reading public data from the replica through its own.
"""

import inspect
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.main import create_app
from app.settings import Exports, SearchLimits, Settings
from db.databases import sibling_url
from db.engine import make_engine
from tests.support.accounts import SUITE_SECRET_KEY
from tests.support.databases import own_redis_database, template_copy
from tests.support.openapi import DocumentedResponses
from tests.support.suite import (
    ALL_STRATEGIES,
    BOOKING_HORIZON_DAYS,
    CHEAP_PASSWORD_HASHING,
    QUICK_JOBS,
    UNLIMITED,
)

THROUGH_PGBOUNCER = os.environ.get("TEST_THROUGH_PGBOUNCER") == "1"


def pytest_sessionstart(session: pytest.Session) -> None:
    if THROUGH_PGBOUNCER and not os.environ.get("DATABASE_DIRECT_URL"):
        pytest.exit("no PgBouncer in this stack (DEVSTACK_PGBOUNCER=1 starts one)", returncode=0)


# Every server a test starts is awaited by one of these (tests.support.live_server).
_SERVER_STARTS = ("live_server(", "wait_until_healthy(")


def _starts_a_server(function: object) -> bool:
    try:
        source = inspect.getsource(function)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return False
    return any(start in source for start in _SERVER_STARTS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts the API under granian, itself or through a fixture, is marked
    `live_server` (mutation runs leave those out: each costs seconds)."""
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        definitions = fixtures.name2fixturedefs.values() if fixtures else ()
        functions = [getattr(item, "function", None)]
        functions += [definition.func for chain in definitions for definition in chain]
        if any(_starts_a_server(function) for function in functions):
            item.add_marker(pytest.mark.live_server)
        if item.path.parent.name == "scale_out":
            item.add_marker(pytest.mark.serial)


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the tests with `make test`", returncode=2)
    return value


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh copy of the suite's template database for the whole test session."""
    _require("DATABASE_URL")
    with template_copy() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The state Redis (rate limits, generations, positions, locks)."""
    with own_redis_database(_require("REDIS_URL")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_cache_url() -> Iterator[str]:
    """The cache Redis (cached answers), apart from the state's as in production."""
    with own_redis_database(_require("REDIS_CACHE_URL")) as url:
        yield url


@pytest.fixture(scope="session")
def exports_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str, redis_cache_url: str, exports_dir: Path
) -> Settings:
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_cache_url=redis_cache_url,
        secret_key=SUITE_SECRET_KEY,
        rate_limits=UNLIMITED,
        booking_horizon_days=BOOKING_HORIZON_DAYS,
        search=SearchLimits(strategies=ALL_STRATEGIES),
        passwords=CHEAP_PASSWORD_HASHING,
        smtp_url=os.environ.get("SMTP_URL", ""),
        jobs=QUICK_JOBS,
        exports=Exports(dir=str(exports_dir)),
    )
    return through_pgbouncer(settings) if THROUGH_PGBOUNCER else settings


def through_pgbouncer(settings: Settings) -> Settings:
    """The suite's app through the stack's PgBouncers (DATABASE_URL, DATABASE_REPLICA_URL)."""
    database = str(make_url(settings.database_url).database)
    replica = os.environ.get("DATABASE_REPLICA_URL")
    return msgspec.structs.replace(
        settings,
        database_url=sibling_url(_require("DATABASE_URL"), database),
        database_replica_url=sibling_url(replica, database) if replica else "",
        db_transaction_pooler=True,
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The app's test client. Every answer it gets is checked against the OpenAPI
    document: a status or body the document does not promise fails the test at once."""
    documented = DocumentedResponses(app.openapi_schema.to_schema())

    async def check(response: httpx.Response) -> None:
        await response.aread()
        problems = documented.problems(response)
        assert not problems, problems

    async with AsyncTestClient(app=app) as test_client:
        test_client.event_hooks["response"].append(check)
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
