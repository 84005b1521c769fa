"""Restore drill (`make drill-restore`): a point-in-time restore proved row by row.

Against the devstack cluster, in a database of its own, through the API served by
granian: bookings marked "before-backup" are written, a backup is taken
(scripts/backup.sh), bookings marked "after-backup" are written, the database's clock
is read (the instant), bookings marked "after-instant" are written, and their WAL is
archived. Then the cluster is restored to the instant into a separate cluster, and:

- exactly the bookings before the instant are there, row by row: none lost (the RPO for
  commits before the instant is 0 rows) and none from after it;
- the exclusion constraint is validated and enforced, every index is valid, and amcheck
  finds the B-tree indexes sound;
- the API served from the restored copy lists the customer's bookings, refuses a booking
  over a restored one (409) and takes one where a booking after the instant was (201).

It prints the backup and recovery times and the rows lost, writes
bench/results/restore_drill.json, and fails on any difference. Loopback only; it stops
by itself (about a minute at CI size).
"""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.databases import log
from bench.reporting import splice, write_results
from db.databases import (
    asyncpg_dsn,
    create_database,
    direct_url,
    drop_database,
    migrate,
    sibling_url,
)
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import OpenProvider, days_ahead, every_page, open_provider, stockholm
from tests.support.live_server import live_server
from tests.support.ports import closed_port

ROOT = Path(__file__).resolve().parent.parent
DRILL_DATABASE = "equinet_restore_drill"
PER_PHASE = 10
ARCHIVE_WAIT_S = 60.0
PHASES = ("before-backup", "after-backup", "after-instant")


@dataclass
class Written:
    """What the drill wrote through the API, by phase: booking id to its start."""

    customer: SignedIn
    provider: OpenProvider
    phases: dict[str, dict[int, str]] = field(default_factory=dict)
    instant: datetime | None = None
    backup_s: float = 0.0

    def kept(self) -> dict[int, str]:
        """The bookings a restore to the instant must hold."""
        return {**self.phases["before-backup"], **self.phases["after-backup"]}


def slots() -> Iterator[datetime]:
    """One-hour slots inside the drill provider's hours (08-17), eight a day from three
    days ahead."""
    day = days_ahead(3)
    index = 0
    while True:
        yield stockholm(day + timedelta(days=index // 8), 8 + index % 8)
        index += 1


async def book_phase(
    client: httpx.AsyncClient, written: Written, phase: str, starts: Iterator[datetime]
) -> None:
    booked: dict[int, str] = {}
    for number in range(PER_PHASE):
        start = next(starts)
        body = written.provider.booking(start, notes=f"restore drill: {phase} {number}")
        response = await client.post("/api/bookings", json=body, headers=written.customer.headers)
        if response.status_code != 201:
            raise SystemExit(f"restore drill: booking refused: {response.text}")
        booked[response.json()["id"]] = response.json()["start"]
    written.phases[phase] = booked


BACKUP_SETTLE_S = 1.5
"""pgBackRest keeps a backup's stop time in whole seconds and restores to a time only from
a backup that stopped before it: the writes after the backup wait this long, so that the
instant after them is always past the stop time."""


def run_backup() -> float:
    started = time.perf_counter()
    subprocess.run(["bash", str(ROOT / "scripts/backup.sh"), "backup"], check=True)
    took_s = time.perf_counter() - started
    time.sleep(BACKUP_SETTLE_S)
    return took_s


async def cluster_mib(url: str) -> float:
    """The size of every database of the cluster: what a restore copies."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        size: int = await connection.fetchval(
            "SELECT sum(pg_database_size(datname)) FROM pg_database"
        )
        return size / 2**20
    finally:
        await connection.close()


async def database_clock(url: str) -> datetime:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        instant: datetime = await connection.fetchval("SELECT clock_timestamp()")
        return instant
    finally:
        await connection.close()


async def archived(url: str) -> None:
    """Close the current WAL segment and wait until the repository has it: a restore to
    the instant needs the WAL past it."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        segment = await connection.fetchval("SELECT pg_walfile_name(pg_switch_wal())")
        deadline = time.monotonic() + ARCHIVE_WAIT_S
        while time.monotonic() < deadline:
            last = await connection.fetchval("SELECT last_archived_wal FROM pg_stat_archiver")
            if last is not None and last >= segment:
                return
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise SystemExit(f"restore drill: WAL segment {segment} not archived in {ARCHIVE_WAIT_S} s")


async def write(api: str, url: str) -> Written:
    starts = slots()
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        provider = await open_provider(client)
        customer = await sign_up(client, "customer", secret_key=os.environ["SECRET_KEY"])
        written = Written(customer, provider)
        await book_phase(client, written, "before-backup", starts)
        written.backup_s = run_backup()
        await book_phase(client, written, "after-backup", starts)
        written.instant = await database_clock(url)
        await book_phase(client, written, "after-instant", starts)
    await archived(url)
    return written


def restore(instant: datetime, port: int) -> tuple[str, float]:
    """The restored cluster's URL of the project database, and how long it took."""
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/backup.sh"), "restore", instant.isoformat(sep=" "), str(port)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    last = done.stdout.strip().splitlines()[-1]
    if not last.startswith("DATABASE_URL="):
        raise SystemExit(f"restore drill: the restore printed {last!r} last")
    return last.removeprefix("DATABASE_URL="), time.perf_counter() - started


async def soundness(url: str) -> dict[str, Any]:
    """The restored database's bookings by id, and the health of its constraints and
    indexes."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await connection.fetch("SELECT id, lower(during) AS start FROM bookings")
        exclusion = await connection.fetch(
            "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'x'"
        )
        invalid = await connection.fetchval(
            "SELECT count(*) FROM pg_index WHERE NOT (indisvalid AND indisready AND indislive)"
        )
        await connection.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        checked = await connection.fetchval(
            "SELECT count(bt_index_check(c.oid, true)) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE am.amname = 'btree' AND n.nspname = 'public'"
        )
    finally:
        await connection.close()
    return {
        "bookings": {row["id"] for row in rows},
        "exclusion_constraints": {row["conname"]: row["convalidated"] for row in exclusion},
        "invalid_indexes": invalid,
        "btree_indexes_checked": checked,
    }


async def served(api: str, written: Written) -> dict[str, int]:
    """What the API answers from the restored copy."""
    customer, provider = written.customer, written.provider
    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        listed = await every_page(client, customer, "/api/bookings", {"limit": 100})
        taken = next(iter(written.kept().values()))
        freed = next(iter(written.phases["after-instant"].values()))
        over = await client.post(
            "/api/bookings",
            json=provider.booking(datetime.fromisoformat(taken)),
            headers=customer.headers,
        )
        into = await client.post(
            "/api/bookings",
            json=provider.booking(datetime.fromisoformat(freed)),
            headers=customer.headers,
        )
    return {"listed": len(listed), "over_restored": over.status_code, "freed": into.status_code}


def environment(url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "DATABASE_REPLICA_URL": "",
        "RATE_LIMITS_ENABLED": "false",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "8",
        "PASSWORD_HASH_PARALLELISM": "1",
    }


def verdict(written: Written, found: dict[str, Any], answers: dict[str, int]) -> list[str]:
    """What is wrong with the restored copy (nothing, when the drill passes)."""
    kept, later = set(written.kept()), set(written.phases["after-instant"])
    problems = []
    if lost := kept - found["bookings"]:
        problems.append(f"{len(lost)} bookings from before the instant are missing")
    if extra := found["bookings"] & later:
        problems.append(f"{len(extra)} bookings from after the instant are there")
    if not found["exclusion_constraints"] or not all(found["exclusion_constraints"].values()):
        problems.append(f"exclusion constraints: {found['exclusion_constraints']}")
    if found["invalid_indexes"]:
        problems.append(f"{found['invalid_indexes']} invalid indexes")
    if answers != {"listed": len(kept), "over_restored": 409, "freed": 201}:
        problems.append(f"the API from the restored copy answered {answers}")
    return problems


def main() -> None:
    admin_url = direct_url() or sys.exit("DATABASE_URL is not set (run `make services`)")
    url = sibling_url(admin_url, DRILL_DATABASE)
    asyncio.run(drop_database(admin_url, DRILL_DATABASE))
    asyncio.run(create_database(admin_url, DRILL_DATABASE))
    port = closed_port()
    try:
        migrate(url)
        log("writing marked bookings through the API, with a backup between")
        with live_server(environment(url), workers=1) as api:
            written = asyncio.run(write(api, url))
        assert written.instant is not None
        log(f"restoring to {written.instant.isoformat(sep=' ')} on 127.0.0.1:{port}")
        restored_admin, recovery_s = restore(written.instant, port)
        restored = sibling_url(restored_admin, DRILL_DATABASE)
        found = asyncio.run(soundness(restored))
        with live_server(environment(restored), workers=1) as api:
            answers = asyncio.run(served(api, written))
    finally:
        subprocess.run(["bash", str(ROOT / "scripts/backup.sh"), "drop-restored", str(port)])
        asyncio.run(drop_database(admin_url, DRILL_DATABASE))
    problems = verdict(written, found, answers)
    kept = written.kept()
    lost = len(set(kept) - found["bookings"])
    rows = [
        ("bookings written before the instant", str(len(kept))),
        ("bookings written after it", str(len(written.phases["after-instant"]))),
        ("bookings in the restored copy", str(len(found["bookings"]))),
        ("rows lost (RPO)", str(lost)),
        ("B-tree indexes checked by amcheck", str(found["btree_indexes_checked"])),
        ("cluster size (MiB)", f"{asyncio.run(cluster_mib(admin_url)):,.0f}"),
        ("backup (s)", f"{written.backup_s:.1f}"),
        ("recovery to the instant, read-write (s)", f"{recovery_s:.1f}"),
    ]
    for name, value in rows:
        print(f"{name:42} {value:>8}")
    table = "| | |\n|---|---|\n" + "".join(f"| {name} | {value} |\n" for name, value in rows)
    splice("operations.md", "restore-drill", table.rstrip("\n"))
    write_results(
        "restore_drill",
        {
            "written_before_instant": len(kept),
            "written_after_instant": len(written.phases["after-instant"]),
            "restored": len(found["bookings"]),
            "rows_lost": lost,
            "backup_s": round(written.backup_s, 2),
            "recovery_s": round(recovery_s, 2),
            "exclusion_constraints": found["exclusion_constraints"],
            "btree_indexes_checked": found["btree_indexes_checked"],
            "api_from_restored_copy": answers,
            "problems": problems,
        },
    )
    if problems:
        raise SystemExit("restore drill failed: " + "; ".join(problems))
    log(f"restore drill passed: recovered in {recovery_s:.1f} s, {lost} rows lost")


if __name__ == "__main__":
    main()
