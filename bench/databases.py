"""The benchmarks' databases: one per size and distribution next to DATABASE_URL's
(`<name>_bench_<distribution>_<size>`), migrated, seeded once and reused while their seed
stays the same (recorded in the database's comment)."""

import asyncio
import sys
from dataclasses import dataclass
from datetime import date

import asyncpg
from sqlalchemy.engine import make_url

from db.databases import asyncpg_dsn, create_database, migrate, sibling_url
from db.seed import Distribution, seed

# Raise it when seeding changes, so that the next run seeds again.
SEED_VERSION = 2


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Dataset:
    size: int
    distribution: Distribution
    calendars: bool = False
    """Hours and two weeks of commitments from the day of seeding (db.seed)."""

    @property
    def route_orders(self) -> int:
        return self.size // 10

    @property
    def label(self) -> str:
        return f"{self.size:,} {self.distribution}" + (" with calendars" if self.calendars else "")

    @property
    def name(self) -> str:
        return f"{self.distribution}_{self.size}" + ("_calendars" if self.calendars else "")

    @property
    def fingerprint(self) -> str:
        """What its database holds; calendars only until tomorrow, when they move on."""
        seeded = f", seeded {date.today()}" if self.calendars else ""
        return (
            f"equinet bench seed v{SEED_VERSION}: {self.label}, {self.route_orders} orders{seeded}"
        )


async def prepared(admin_url: str, dataset: Dataset) -> str:
    """The URL of `dataset`'s database, seeded unless an earlier run left it so."""
    name = f"{make_url(admin_url).database}_bench_{dataset.name}"
    url = sibling_url(admin_url, name)
    await create_database(admin_url, name)
    await asyncio.to_thread(migrate, url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        comment = await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
        if comment != dataset.fingerprint:
            log(f"seeding {dataset.label} providers into {name} (once)")
            await seed(
                connection,
                dataset.size,
                progress=log,
                route_orders=dataset.route_orders,
                distribution=dataset.distribution,
                calendars=dataset.calendars,
            )
            quoted = dataset.fingerprint.replace("'", "''")
            await connection.execute(f"COMMENT ON DATABASE \"{name}\" IS '{quoted}'")
    finally:
        await connection.close()
    return url
