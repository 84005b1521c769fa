"""What the suite's own database holds, and how the suite's app is configured."""

import asyncio
import fcntl
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from app.rate_limits import RateLimits
from db.databases import (
    asyncpg_dsn,
    create_database,
    direct_url,
    drop_database,
    migrate,
    sibling_url,
)
from db.seed import seed

SEEDED_PROVIDERS = 30_000
# The suite signs up many accounts from one test client; tests of the limits set their own.
UNLIMITED = RateLimits(**dict.fromkeys(RateLimits.__struct_fields__, "100000/minute"))
# The suite compares every strategy; deployments offer gist and bbox unless told otherwise.
ALL_STRATEGIES = "gist,bbox,naive"
# Far enough ahead for the next spring and autumn clock changes, whatever today is.
BOOKING_HORIZON_DAYS = 400
# Redis databases a suite may take, one per suite running at once (mutation testing runs two).
REDIS_TEST_DBS = range(15, 7, -1)


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


@contextmanager
def claimed_redis_database(server: str) -> Iterator[int]:
    """A Redis database number of `server` that no other running suite holds, held until
    exit: each suite empties its database first, so two must never share one."""
    for number in REDIS_TEST_DBS:
        lock = Path(tempfile.gettempdir()) / f"equinet-test-redis-{server}-{number}.lock"
        with lock.open("a") as held:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            yield number
            return
    raise RuntimeError(f"all of Redis databases {list(REDIS_TEST_DBS)} are in use by other suites")


async def load_suite_data(url: str) -> None:
    """The seeded providers, then the edge providers under an owner of their own."""
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


async def _prepare_template(admin_url: str, name: str) -> None:
    await drop_database(admin_url, name)
    await create_database(admin_url, name)
    url = sibling_url(admin_url, name)
    migrate(url)
    await load_suite_data(url)


if __name__ == "__main__":
    # python -m tests.support.suite TEMPLATE: the suite's database, made once under that
    # name, for runs that set TEST_DATABASE_TEMPLATE to it (mutation testing).
    asyncio.run(_prepare_template(str(direct_url()), sys.argv[1]))
