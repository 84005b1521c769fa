"""Fixtures of the replica tests: the suite's app with its public reads on the local
stack's streaming replica (`make test` starts one; without one these tests are skipped)."""

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from app.main import create_app
from app.settings import Settings
from tests.support.replica import replica_database_url

MAX_LAG_S = 2.0


@pytest.fixture(scope="session")
def replica_url(database_url: str) -> str:
    url = replica_database_url(str(make_url(database_url).database))
    if url is None:
        pytest.skip("no replica: DEVSTACK_REPLICA=1 starts one (make test does)")
    return url


@pytest.fixture(scope="session")
def replica_settings(settings: Settings, replica_url: str) -> Settings:
    return msgspec.structs.replace(
        settings, database_replica_url=replica_url, db_replica_max_lag_s=MAX_LAG_S
    )


@pytest.fixture(scope="session")
async def replica_client(replica_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(replica_settings)) as client:
        yield client
