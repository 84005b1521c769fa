"""Free time at 100,000 providers with calendars (db.seed: weekday hours, exceptions, three
commitments a working day for two weeks, half of them route visits), uncached through the
whole app in process:

- free near me (7 days, 25 km, 20 a page) next to nearby on the same centres, in the same
  run, interleaved: p50 and p95, and the ratio of the p95s (target: ≤ 100 ms, and at
  most three times nearby's);
- one provider's 14-day slots (target: p95 ≤ 20 ms);
- the floor: each statement alone on a warm asyncpg connection, and the endpoint as a
  ratio of it; and the plan of the slowest centre's free-near-me (providers its scan
  read, buffers), so a miss can be explained.

    python -m bench.free_time [--size 100000] [--centres 30] [--samples 5] [--quick]
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from app.settings import from_env
from app.slots.queries import slot_rules
from bench.databases import Dataset, log, prepared
from bench.reporting import splice, write_results
from bench.strategies import bench_app, percentile
from db.databases import asyncpg_dsn, direct_url
from db.engine import compiled
from db.nearest import Bound, index_ordered_connection_settings
from db.search import AvailableQuery, NearbyQuery, available_statement, nearby_statement
from db.search_cache import EPOCH_KEY
from db.seed import Distribution
from db.slots import SLOTS, SlotsQuery, Window, slots_values
from geo.distance import Point
from geo.strategies import SearchStrategy

RADIUS_KM, LIMIT, WINDOW_DAYS, SLOT_DAYS = 25, 20, 7, 14
TARGET_P95_MS, TARGET_RATIO, TARGET_SLOTS_P95_MS = 100.0, 3.0, 20.0
QUICK = {"size": 10_000, "centres": 5, "samples": 3}


@dataclass
class Row:
    what: str
    samples: int
    p50_ms: float
    p95_ms: float
    floor_p50_ms: float
    """The statement alone, on a warm connection."""

    @property
    def of_floor(self) -> float:
        return self.p50_ms / self.floor_p50_ms


async def _timed(
    client: AsyncTestClient[Litestar], redis: Redis, path: str, params: dict[str, Any]
) -> float:
    await redis.incr(EPOCH_KEY)  # every request a miss
    started = time.perf_counter()
    answer = await client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise SystemExit(f"{path} {params} answered {answer.status_code}: {answer.text}")
    return elapsed


async def _floor(connection: asyncpg.Connection, bound: Bound) -> float:
    statement = compiled(bound.statement)
    arguments = statement.arguments(bound.parameters)
    started = time.perf_counter()
    await connection.fetch(statement.sql, *arguments)
    return (time.perf_counter() - started) * 1000


def _window(days: int) -> Window:
    tomorrow = date.today() + timedelta(days=1)
    return Window(tomorrow, tomorrow + timedelta(days=days - 1))


async def _centres(connection: asyncpg.Connection, count: int) -> list[Point]:
    """Where customers are: at providers picked at random (so dense towns weigh most)."""
    rows = await connection.fetch(
        "SELECT latitude, longitude FROM providers ORDER BY random() LIMIT $1", count
    )
    return [Point(row["latitude"], row["longitude"]) for row in rows]


async def _searches(
    client: AsyncTestClient[Litestar],
    redis: Redis,
    connection: asyncpg.Connection,
    centres: list[Point],
    samples: int,
) -> tuple[list[Row], dict[str, Any]]:
    rules, window = slot_rules(from_env()), _window(WINDOW_DAYS)
    dates = {"from": window.first_day.isoformat(), "to": window.last_day.isoformat()}
    timings: dict[str, list[float]] = {"nearby": [], "free near me": []}
    floors: dict[str, list[float]] = {"nearby": [], "free near me": []}
    slowest: tuple[float, Point] = (0.0, centres[0])
    for centre in centres:
        params = {"lat": centre.latitude, "lng": centre.longitude, "radius_km": RADIUS_KM}
        params |= {"limit": LIMIT}
        nearby = NearbyQuery(centre, RADIUS_KM * 1000, LIMIT)
        bounds = {
            "nearby": nearby_statement(nearby, SearchStrategy.gist),
            "free near me": available_statement(AvailableQuery(nearby, window, False), rules),
        }
        for _ in range(samples):
            timings["nearby"].append(await _timed(client, redis, "/api/providers/nearby", params))
            free_ms = await _timed(client, redis, "/api/providers/available", params | dates)
            timings["free near me"].append(free_ms)
            slowest = max(slowest, (free_ms, centre))
            for what, bound in bounds.items():
                floors[what].append(await _floor(connection, bound))
        log(f"centre {centre.latitude:.3f},{centre.longitude:.3f}: done")
    rows = [
        Row(
            what,
            len(timings[what]),
            percentile(timings[what], 0.5),
            percentile(timings[what], 0.95),
            percentile(floors[what], 0.5),
        )
        for what in timings
    ]
    plan = await _plan(connection, slowest[1], window, rules)
    return rows, plan


async def _plan(
    connection: asyncpg.Connection, centre: Point, window: Window, rules: Any
) -> dict[str, Any]:
    """What free near me read at its slowest centre: the providers its scan reached, the
    buffers, and the time."""
    nearby = NearbyQuery(centre, RADIUS_KM * 1000, LIMIT)
    bound = available_statement(AvailableQuery(nearby, window, False), rules)
    statement = compiled(bound.statement)
    explained = await connection.fetchval(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement.sql,
        *statement.arguments(bound.parameters),
    )
    root = json.loads(explained)[0]
    scan = next(
        node
        for node in _nodes(root["Plan"])
        if node.get("Index Name", "").startswith("providers_location")
    )
    return {
        "centre": [centre.latitude, centre.longitude],
        "providers_reached": scan["Actual Rows"],
        "shared_buffers_hit": root["Plan"].get("Shared Hit Blocks", 0),
        "shared_buffers_read": root["Plan"].get("Shared Read Blocks", 0),
        "execution_ms": root["Execution Time"],
    }


def _nodes(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _slots(
    client: AsyncTestClient[Litestar],
    redis: Redis,
    connection: asyncpg.Connection,
    count: int,
    samples: int,
) -> Row:
    rules, window = slot_rules(from_env()), _window(SLOT_DAYS)
    services = await connection.fetch(
        "SELECT provider_id, min(id) AS id FROM services"
        " WHERE provider_id IN (SELECT id FROM providers ORDER BY random() LIMIT $1)"
        " GROUP BY provider_id",
        count,
    )
    timings, floors = [], []
    for service in services:
        path = f"/api/providers/{service['provider_id']}/slots"
        params = {"service_id": service["id"], "from": window.first_day.isoformat()}
        params |= {"to": window.last_day.isoformat()}
        query = SlotsQuery(service["provider_id"], service["id"], window, None)
        for _ in range(samples):
            timings.append(await _timed(client, redis, path, params))
            floors.append(await _floor(connection, Bound(SLOTS, slots_values(rules, query))))
    return Row(
        f"one provider's {SLOT_DAYS}-day slots",
        len(timings),
        percentile(timings, 0.5),
        percentile(timings, 0.95),
        percentile(floors, 0.5),
    )


def table(rows: list[Row], size: int) -> str:
    nearby = next(row for row in rows if row.what == "nearby")
    lines = [
        f"| {size:,} providers, uncached | requests | p50 ms | p95 ms | p95 / nearby's"
        " | statement alone p50 ms | endpoint p50 / statement's |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.what} | {row.samples} | {row.p50_ms:.1f} | {row.p95_ms:.1f}"
            f" | {row.p95_ms / nearby.p95_ms:.2f} | {row.floor_p50_ms:.2f} | {row.of_floor:.1f}x |"
        )
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> list[str]:
    by = {row.what: row for row in rows}
    free, nearby = by["free near me"], by["nearby"]
    slots = next(row for row in rows if row.what.endswith("slots"))
    return [
        f"free near me p95 {free.p95_ms:.1f} ms (target ≤ {TARGET_P95_MS:.0f}):"
        f" {'met' if free.p95_ms <= TARGET_P95_MS else 'MISSED'}",
        f"free near me p95 / nearby p95 {free.p95_ms / nearby.p95_ms:.2f}"
        f" (target ≤ {TARGET_RATIO:.0f}): "
        f"{'met' if free.p95_ms <= TARGET_RATIO * nearby.p95_ms else 'MISSED'}",
        f"slots p95 {slots.p95_ms:.1f} ms (target ≤ {TARGET_SLOTS_P95_MS:.0f}):"
        f" {'met' if slots.p95_ms <= TARGET_SLOTS_P95_MS else 'MISSED'}",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description="free slots and free near me, uncached")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--centres", type=int, default=30)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10k providers, a few requests")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    admin_url = direct_url() or sys.exit("DATABASE_URL is not set")
    dataset = Dataset(args.size, Distribution.clustered, calendars=True)
    url = await prepared(admin_url, dataset)
    random.seed(29)
    connection = await asyncpg.connect(
        asyncpg_dsn(url), server_settings=index_ordered_connection_settings(10_000)
    )
    redis = Redis.from_url(os.environ["REDIS_URL"])
    try:
        await connection.execute("SELECT setseed(0.29)")
        async with AsyncTestClient(app=bench_app(url)) as client:
            rows, plan = await _searches(
                client, redis, connection, await _centres(connection, args.centres), args.samples
            )
            rows.append(await _slots(client, redis, connection, args.centres, args.samples))
    finally:
        await connection.close()
        await redis.aclose()
    said = [table(rows, args.size), "", *(f"- {line}" for line in verdicts(rows))]
    said.append(
        f"- the slowest centre's free near me reached {plan['providers_reached']} providers"
        f" in its scan, {plan['shared_buffers_hit'] + plan['shared_buffers_read']:,} buffers,"
        f" {plan['execution_ms']:.1f} ms in PostgreSQL"
    )
    print("\n".join(said))
    results = {"size": args.size, "rows": [asdict(r) for r in rows], "slowest_plan": plan}
    write_results("free_time", results, quick=args.quick)
    if not args.quick:
        splice("benchmarks.md", "free-time", "\n".join(said))


if __name__ == "__main__":
    asyncio.run(main())
