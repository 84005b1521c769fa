"""Failure drills (`make drills`): a steady load of mixed searches, public profiles and
bookings through nginx in front of three API instances (scripts/serve_cluster.sh), on the
stack with a streaming replica and PgBouncer, while one thing goes wrong at a time:

- an API instance is killed (its supervisor starts it again a second later);
- the replica is stopped for 10 s;
- WAL replay on the replica is paused for 30 s;
- both PgBouncers are restarted (online, `pgbouncer -R`);
- every instance is restarted, one at a time (a rolling restart: serve_cluster.sh on
  SIGHUP), which must fail no request at all.

A provider is renamed all the while, and each rename is followed at once by a search and a
profile read, which must show the new name. Each drill reports its requests, failed GETs,
bookings, GET p95 and stale answers; afterwards every booking answered 201 must exist, and
no two kept bookings may overlap. The run fails on a lost or doubled booking or a stale
answer. Last, it times how long a commit takes to show on the replica at rest. Loopback
only; it stops by itself after about two minutes.
"""

import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.databases import log
from bench.reporting import splice, write_results
from db.databases import asyncpg_dsn, direct_url
from tests.support.accounts import sign_up
from tests.support.bookings import open_provider
from tests.support.http import CLOSED_UNANSWERED, get
from tests.support.live_server import wait_until_healthy
from tests.support.nginx_cluster import rolling_restart
from tests.support.ports import closed_port

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = 3
CLIENTS = 12
WARM_UP_S = 3.0
SETTLE_S = 7.0
STOCKHOLM = ZoneInfo("Europe/Stockholm")
RENAMED = {"latitude": 68.4, "longitude": 4.2}


@dataclass(frozen=True)
class Drill:
    name: str
    fault: Callable[[], Awaitable[None]] | None
    lasts_s: float
    """How long after the fault begins the drill watches before it ends."""


@dataclass
class Tally:
    """What one drill's load saw."""

    get_ms: list[float] = field(default_factory=list)
    get_failures: Counter[str] = field(default_factory=Counter)
    bookings: Counter[str] = field(default_factory=Counter)
    booked_ids: list[int] = field(default_factory=list)
    renames: int = 0
    stale: int = 0

    def row(self, name: str, reads: dict[str, float]) -> dict[str, Any]:
        requests = len(self.get_ms) + sum(self.get_failures.values()) + sum(self.bookings.values())
        p95 = statistics.quantiles(self.get_ms, n=20)[-1] if len(self.get_ms) > 20 else None
        return {
            "drill": name,
            "requests": requests,
            "failed_gets": sum(self.get_failures.values()),
            "failures": dict(self.get_failures),
            "booked": self.bookings["201"],
            "conflicts": self.bookings["409"],
            "failed_bookings": sum(n for s, n in self.bookings.items() if s not in ("201", "409")),
            "booking_outcomes": dict(self.bookings),
            "get_p95_ms": p95,
            "renames": self.renames,
            "stale": self.stale,
            "public_reads": reads,
        }


async def _devstack(*arguments: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(ROOT / "scripts/devstack.sh"),
        *arguments,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await process.wait():
        raise RuntimeError(f"devstack.sh {' '.join(arguments)} failed")


CLUSTER_DIR = ROOT / ".devstack" / "drills-cluster"


async def _kill_an_instance() -> None:
    group = int((CLUSTER_DIR / "instance-2.pid").read_text())
    os.killpg(group, signal.SIGKILL)


async def _stop_the_replica() -> None:
    await _devstack("replica", "stop")
    await asyncio.sleep(10)
    await _devstack("replica", "start")


async def _pause_replay() -> None:
    await _devstack("replica", "pause")
    await asyncio.sleep(30)
    await _devstack("replica", "resume")


async def _restart_pgbouncer() -> None:
    await _devstack("pgbouncer", "restart")


ROLL_TIMEOUT_S = 60.0


async def _roll_the_instances() -> None:
    """A rolling restart (SIGHUP to serve_cluster.sh), until it says it is done."""
    took_s = await asyncio.to_thread(rolling_restart, CLUSTER_DIR, ROLL_TIMEOUT_S)
    log(f"rolling restart of {INSTANCES} instances took {took_s:.0f} s")


ROLLING = "rolling restart of every instance"
"""The drill that must lose nothing at all: no failed request, no failed booking."""
DRILLS = [
    Drill("steady (no fault)", None, 5),
    Drill("kill an API instance", _kill_an_instance, 6),
    Drill("stop the replica 10 s", _stop_the_replica, 14),
    Drill("pause replay 30 s", _pause_replay, 34),
    Drill("restart PgBouncer", _restart_pgbouncer, 6),
    Drill(ROLLING, _roll_the_instances, 55),
]


class Load:
    """The clients and what they share: the API's address, accounts, where to search."""

    def __init__(self, api: str, centres: list[tuple[float, float]]) -> None:
        self.api = api
        self.centres = centres
        self.tally = Tally()
        self.providers: list[tuple[int, int]] = []  # bookable: (provider id, service id)
        self.customers: list[dict[str, str]] = []
        self.renamer: tuple[dict[str, str], int] | None = None
        self.rng = random.Random(13)

    async def prepare(self, client: httpx.AsyncClient) -> None:
        """Four bookable providers, a provider to rename, and a customer per client."""
        self.providers = [
            (provider.id, provider.service_id)
            for provider in [await open_provider(client) for _ in range(4)]
        ]
        owner = (await sign_up(client, "provider")).headers
        created = await client.post(
            "/api/providers", json={"business_name": "Namn 0", **RENAMED}, headers=owner
        )
        created.raise_for_status()
        self.renamer = owner, created.json()["id"]
        self.customers = [
            (await sign_up(client, "customer", secret_key=os.environ["SECRET_KEY"])).headers
            for _ in range(CLIENTS)
        ]

    async def _get(self, client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            response = await get(client, path, params)
        except httpx.HTTPError as error:
            self.tally.get_failures[type(error).__name__] += 1
            return
        if response.status_code >= 500:
            self.tally.get_failures[str(response.status_code)] += 1
        else:
            self.tally.get_ms.append((time.perf_counter() - started) * 1000)

    async def _book(self, client: httpx.AsyncClient, customer: dict[str, str]) -> None:
        provider_id, service_id = self.rng.choice(self.providers)
        day = date.today() + timedelta(days=self.rng.randint(1, 10))
        start = datetime(day.year, day.month, day.day, 8, tzinfo=STOCKHOLM) + timedelta(
            minutes=15 * self.rng.randint(0, 32)
        )
        booking = {
            "provider_id": provider_id,
            "service_id": service_id,
            "start": start.isoformat(),
            "horse_name": "Övning",
        }
        try:
            response = await client.post("/api/bookings", json=booking, headers=customer)
        except httpx.HTTPError as error:
            self.tally.bookings[type(error).__name__] += 1
            return
        self.tally.bookings[str(response.status_code)] += 1
        if response.status_code == 201:
            self.tally.booked_ids.append(response.json()["id"])

    async def client(self, number: int, until: Callable[[], bool]) -> None:
        customer = self.customers[number]
        async with httpx.AsyncClient(base_url=self.api, timeout=10) as client:
            while not until():
                roll = self.rng.random()
                latitude, longitude = self.rng.choice(self.centres)
                if roll < 0.6:
                    radius = self.rng.choice((5, 10, 25))
                    params = {"lat": latitude, "lng": longitude, "radius_km": radius}
                    await self._get(client, "/api/providers/nearby", params)
                elif roll < 0.75:
                    box = f"{longitude - 0.2},{latitude - 0.1},{longitude + 0.2},{latitude + 0.1}"
                    await self._get(client, "/api/providers/in-view", {"bbox": box})
                elif roll < 0.9:
                    await self._get(client, f"/api/providers/{self.rng.randint(1, 3000)}", {})
                else:
                    await self._book(client, customer)

    async def rename(self, until: Callable[[], bool]) -> None:
        """Rename the provider, then search for it and read its profile: both must show
        the new name, whichever instance and server answer."""
        assert self.renamer is not None
        owner, provider_id = self.renamer
        near = {"lat": RENAMED["latitude"], "lng": RENAMED["longitude"], "radius_km": 1}
        async with httpx.AsyncClient(base_url=self.api, timeout=10) as client:
            while not until():
                name = f"Namn {uuid.uuid4().hex[:8]}"
                try:
                    renamed = await client.patch(
                        f"/api/providers/{provider_id}", json={"business_name": name}, headers=owner
                    )
                    if renamed.status_code != 200:
                        continue
                    self.tally.renames += 1
                    found = await client.get("/api/providers/nearby", params=near)
                    profile = await client.get(f"/api/providers/{provider_id}")
                except httpx.HTTPError:
                    continue
                seen = {item["id"]: item["business_name"] for item in found.json()["items"]}
                if found.status_code == 200 and seen.get(provider_id) != name:
                    self.tally.stale += 1
                if profile.status_code == 200 and profile.json()["business_name"] != name:
                    self.tally.stale += 1
                await asyncio.sleep(0.2)


def _public_reads(ports: list[int]) -> dict[str, float]:
    """Public reads counted by the instances so far, by server and reason."""
    counts: dict[str, float] = {}
    for port in ports:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "equinet_public_reads_total":
                    key = f"{sample.labels['server']}/{sample.labels['reason']}"
                    counts[key] = counts.get(key, 0.0) + sample.value
    return counts


async def _run_drill(load: Load, drill: Drill, ports: list[int]) -> dict[str, Any]:
    load.tally = Tally()
    before = _public_reads(ports)
    ends = time.monotonic() + WARM_UP_S + drill.lasts_s

    def done() -> bool:
        return time.monotonic() >= ends

    tasks = [asyncio.create_task(load.client(n, done)) for n in range(CLIENTS)]
    tasks.append(asyncio.create_task(load.rename(done)))
    await asyncio.sleep(WARM_UP_S)
    if drill.fault:
        await drill.fault()
    await asyncio.gather(*tasks)
    after = _public_reads(ports)
    reads = {key: max(0.0, value - before.get(key, 0.0)) for key, value in after.items()}
    row = load.tally.row(drill.name, {key: value for key, value in reads.items() if value})
    log(
        f"{drill.name}: {row['requests']} requests, {row['failed_gets']} failed GETs, "
        f"{row['booked']} booked, {row['failed_bookings']} failed bookings, {row['stale']} stale"
    )
    return {**row, "booked_ids": load.tally.booked_ids}


async def _bookings_kept(ids: list[int], providers: list[int]) -> dict[str, int]:
    connection = await asyncpg.connect(asyncpg_dsn(str(direct_url())))
    try:
        found = await connection.fetchval(
            "SELECT count(*) FROM bookings WHERE id = ANY($1::bigint[])", ids
        )
        doubled = await connection.fetchval(
            """SELECT count(*) FROM bookings a JOIN bookings b
            ON a.provider_id = b.provider_id AND a.id < b.id AND a.during && b.during
            WHERE a.provider_id = ANY($1::bigint[])
            AND a.status IN ('pending', 'confirmed') AND b.status IN ('pending', 'confirmed')""",
            providers,
        )
    finally:
        await connection.close()
    return {"answered_201": len(ids), "lost": len(ids) - found, "doubled": doubled}


LAG_SAMPLES = 200


async def replica_lag_ms() -> dict[str, float]:
    """How long a committed write takes to be visible on the replica, at rest: commit on
    the primary, then poll the replica until it has replayed the commit's position."""
    primary = await asyncpg.connect(asyncpg_dsn(str(direct_url())))
    replica_url = os.environ.get("DATABASE_REPLICA_DIRECT_URL") or ""
    replica = await asyncpg.connect(asyncpg_dsn(replica_url))
    samples = []
    try:
        await primary.execute("CREATE TABLE IF NOT EXISTS drill_lag_probe (n int)")
        for _ in range(LAG_SAMPLES):
            await primary.execute("INSERT INTO drill_lag_probe VALUES (1)")  # committed
            started = time.perf_counter()
            position = await primary.fetchval("SELECT pg_current_wal_insert_lsn()::text")
            replayed = f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn"
            while not await replica.fetchval(replayed):
                pass  # each question is a round trip: the polling paces itself
            samples.append((time.perf_counter() - started) * 1000)
        await primary.execute("DROP TABLE drill_lag_probe")
    finally:
        await primary.close()
        await replica.close()
    percentiles = statistics.quantiles(samples, n=100)
    return {"p50": percentiles[49], "p95": percentiles[94], "max": max(samples)}


async def _search_centres() -> list[tuple[float, float]]:
    connection = await asyncpg.connect(asyncpg_dsn(str(direct_url())))
    try:
        rows = await connection.fetch(
            "SELECT latitude, longitude FROM providers WHERE is_active ORDER BY id LIMIT 200"
        )
    finally:
        await connection.close()
    return [(row["latitude"], row["longitude"]) for row in rows]


async def drills(api: str, ports: list[int]) -> dict[str, Any]:
    load = Load(api, await _search_centres())
    async with httpx.AsyncClient(base_url=api, timeout=10) as client:
        await load.prepare(client)
    rows = [await _run_drill(load, drill, ports) for drill in DRILLS]
    booked = [booking for row in rows for booking in row.pop("booked_ids")]
    kept = await _bookings_kept(booked, [provider for provider, _ in load.providers])
    lag = await replica_lag_ms()
    log(f"replica lag at rest: p50 {lag['p50']:.2f} ms, p95 {lag['p95']:.2f} ms")
    return {
        "instances": INSTANCES,
        "clients": CLIENTS,
        "drills": rows,
        "bookings": kept,
        "replica_lag_ms": lag,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| drill | requests | failed GETs | GET p95 ms | booked | conflicts | failed bookings "
        "| renames | stale | public reads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["drills"]:
        p95 = "" if row["get_p95_ms"] is None else f"{row['get_p95_ms']:.0f}"
        reads = ", ".join(
            f"{key} {value:.0f}" for key, value in sorted(row["public_reads"].items())
        )
        lines.append(
            f"| {row['drill']} | {row['requests']:,} | {row['failed_gets']} | {p95} "
            f"| {row['booked']} | {row['conflicts']} | {row['failed_bookings']} "
            f"| {row['renames']} | {row['stale']} | {reads} |"
        )
    kept = result["bookings"]
    lines.append("")
    lines.append(
        f"Bookings answered 201: {kept['answered_201']}; lost: {kept['lost']}; "
        f"overlapping pairs kept: {kept['doubled']}."
    )
    lag = result["replica_lag_ms"]
    lines.append(
        f"A commit is visible on the replica after {lag['p50']:.2f} ms (p50), "
        f"{lag['p95']:.2f} ms (p95), {lag['max']:.2f} ms at most, at rest."
    )
    return "\n".join(lines)


def main() -> None:
    if not os.environ.get("DATABASE_REPLICA_URL") or not os.environ.get("DATABASE_DIRECT_URL"):
        sys.exit("the drills need the replica and PgBouncer: run them with `make drills`")
    port = closed_port()
    instance_port = closed_port()
    ports = [instance_port + n for n in range(INSTANCES)]
    environment = {
        **os.environ,
        "INSTANCES": str(INSTANCES),
        "WORKERS": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "INSTANCE_PORT": str(instance_port),
        "CLUSTER_DIR": str(CLUSTER_DIR),
        # One load generator on loopback stands for many clients.
        "RATE_LIMITS_ENABLED": "false",
    }
    api = f"http://127.0.0.1:{port}"
    log(f"starting nginx on {api} in front of {INSTANCES} instances")
    with open(ROOT / ".devstack" / "drills-cluster.log", "wb") as output:
        cluster = subprocess.Popen(
            ["bash", str(ROOT / "scripts/serve_cluster.sh")],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_healthy(api, cluster)
        result = asyncio.run(drills(api, ports))
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        cluster.wait(timeout=30)
    print(table(result))
    write_results("drills", result)
    splice("scaling.md", "drills", table(result))
    kept = result["bookings"]
    stale = sum(row["stale"] for row in result["drills"])
    [rolled] = [row for row in result["drills"] if row["drill"] == ROLLING]
    outcomes = rolled["booking_outcomes"]
    unanswered = sum(outcomes.get(error.__name__, 0) for error in CLOSED_UNANSWERED)
    dropped = rolled["failed_gets"] + rolled["failed_bookings"] - unanswered
    if kept["lost"] or kept["doubled"] or stale or dropped:
        sys.exit(
            f"drills failed: {kept['lost']} lost, {kept['doubled']} doubled, {stale} stale, "
            f"{dropped} requests failed in the rolling restart"
        )


if __name__ == "__main__":
    main()
