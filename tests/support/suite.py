"""What the suite's own database holds, and how the suite's app is configured."""

import asyncio
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg

from app.settings import Jobs, PasswordHashing, RateLimits
from db.databases import (
    ROOT,
    asyncpg_dsn,
    create_database,
    drop_database,
    migrate,
    sibling_url,
)
from db.roads.loader import load_network
from db.seed import seed

SEEDED_PROVIDERS = 30_000
# The suite signs up many accounts from one test client; tests of the limits set their own.
UNLIMITED = RateLimits(**dict.fromkeys(RateLimits.__struct_fields__, "100000/minute"))
# The suite signs up hundreds of accounts: production-strength hashes would take half its
# time. Tests of hashing itself use the production defaults.
CHEAP_PASSWORD_HASHING = PasswordHashing(time_cost=1, memory_kib=8, parallelism=1)
# Jobs retried, swept and relayed within a test's patience.
QUICK_JOBS = Jobs(
    retry_delay_s=0.1,
    max_retry_delay_s=0.5,
    heartbeat_s=2,
    sweep_s=1,
    shutdown_grace_s=5,
    outbox_poll_s=0.25,
    expiry_cron="* * * * * */2",
)
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


# What the suite's database is made from: a change to any of these makes a new template.
TEMPLATE_SOURCES = ("alembic/versions", "db/seed.py", "db/roads", "tests/support/suite.py")
_SOURCE_SUFFIXES = {".py", ".xml"}  # code, and the road loader's configuration
TEMPLATE_PREFIX = "equinet_test_template_"
_TEMPLATE_LOCK = 0x65717569  # an advisory lock id of the suite's own


def suite_template_name() -> str:
    """The template database for the migrations and suite data of this tree (and today:
    seeded dates are relative to it)."""
    digest = hashlib.sha256(date.today().isoformat().encode())
    for source in TEMPLATE_SOURCES:
        path = ROOT / source
        files = (
            [f for f in path.rglob("*") if f.suffix in _SOURCE_SUFFIXES]
            if path.is_dir()
            else [path]
        )
        for file in sorted(files):
            digest.update(file.relative_to(ROOT).as_posix().encode())
            digest.update(file.read_bytes())
    return TEMPLATE_PREFIX + digest.hexdigest()[:16]


async def suite_template(admin_url: str) -> str:
    """The name of the migrated and seeded template the suite's databases are copied from,
    made first if it does not exist yet (once, whoever asks at the same time: each xdist
    worker, each pass of `make test`, each mutant's run). Older templates are dropped."""
    name = suite_template_name()
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _TEMPLATE_LOCK)
        existing = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", TEMPLATE_PREFIX + "%"
        )
        if name not in {row["datname"] for row in existing}:
            for row in existing:
                await drop_database(admin_url, row["datname"])
            await _build_template(admin_url, name)
    finally:
        await connection.close()  # and with it the lock
    return name


async def _build_template(admin_url: str, name: str) -> None:
    """Migrate and seed under another name, then rename: a template exists only whole."""
    building = name + "_building"
    await drop_database(admin_url, building)
    await create_database(admin_url, building)
    url = sibling_url(admin_url, building)
    await asyncio.to_thread(migrate, url)
    await load_suite_data(url)
    await load_network(url)  # the sample: central Helsinki
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    finally:
        await connection.close()
