"""Throughput at a fixed concurrency, everything in one run on one database: each search's
SQL floor (raw asyncpg on connections set up as the API's, and pgbench for nearby), the
API served by granian uncached and cached, /health, a bare Litestar app, and Redis
GEOSEARCH over the same points. The machine is shared and noisy, so the ratios between
these, measured minutes apart, are the figures to read.

Every request of an uncached run asks something no earlier request asked (the same centres
the floor runs, each nudged by at most 0.1 m), so each is a cache miss; a cached run asks
a few dozen searches warmed beforehand.
"""

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from bench.cpu_use import CpuUse
from bench.databases import Dataset, log, prepared
from bench.reporting import write_results
from db.databases import asyncpg_dsn
from db.engine import compiled, read_pool_server_settings
from db.nearest import Bound, index_ordered_connection_settings
from db.route_orders import AvailableQuery, available_statement
from db.search import NearbyQuery, in_view_statement, nearby_statement
from db.search_cache import EPOCH_KEY
from db.seed import Distribution
from geo.distance import Point
from geo.strategies import SearchStrategy
from geo.viewport import Viewport
from tests.support.accounts import sign_up
from tests.support.live_server import live_server

CONCURRENCY = 8
RADIUS_KM = 50
LIMIT = 100
VIEW_HALF_SPAN_DEG = (0.1, 0.2)  # latitude, longitude: about 22 by 22 km
ORDER_DAY = date.today() + timedelta(days=10)  # inside most seeded orders' windows
STATEMENT_TIMEOUT_MS = 10_000
CACHED_SAMPLES = 64
HEALTH_ROUNDS = 3
DENSE_TOWNS = [  # the five biggest towns of the seed data
    Point(59.3294, 18.0687),  # Stockholm
    Point(55.6759, 12.5655),  # Copenhagen
    Point(59.9127, 10.7461),  # Oslo
    Point(60.1695, 24.9354),  # Helsinki
    Point(57.7072, 11.9668),  # Gothenburg
]
BARE_APP = "bench.bare_app:create_app"
ROOT = Path(__file__).resolve().parent.parent


def dense_centers(count: int, rng: random.Random) -> list[Point]:
    """Random centres within ~5 km of the five biggest towns, in turn."""
    return [
        Point(t.latitude + rng.uniform(-0.05, 0.05), t.longitude + rng.uniform(-0.1, 0.1))
        for t in (DENSE_TOWNS[i % len(DENSE_TOWNS)] for i in range(count))
    ]


@dataclass(frozen=True)
class SearchKind:
    """One index-ordered search: its request and the statement the API runs for it."""

    name: str
    path: str
    params: Callable[[Point], dict[str, str]]
    bound: Callable[[Point], Bound]
    signed_in: bool = False


def _viewport(center: Point) -> Viewport:
    lat, lng = VIEW_HALF_SPAN_DEG
    return Viewport(
        center.longitude - lng, center.latitude - lat, center.longitude + lng, center.latitude + lat
    )


def _bbox(center: Point) -> dict[str, str]:
    v = _viewport(center)
    return {"bbox": ",".join(repr(c) for c in (v.min_lng, v.min_lat, v.max_lng, v.max_lat))}


def _around(center: Point, **more: str) -> dict[str, str]:
    return {
        "lat": repr(center.latitude),
        "lng": repr(center.longitude),
        "radius_km": str(RADIUS_KM),
        "limit": str(LIMIT),
        **more,
    }


SEARCHES = [
    SearchKind(
        "nearby",
        "/api/providers/nearby",
        _around,
        lambda c: nearby_statement(NearbyQuery(c, RADIUS_KM * 1000.0, LIMIT), SearchStrategy.gist),
    ),
    SearchKind(
        "in-view",
        "/api/providers/in-view",
        _bbox,
        lambda c: in_view_statement(_viewport(c), None, LIMIT),
    ),
    SearchKind(
        "available orders",
        "/api/route-orders/available",
        lambda c: _around(c, date=ORDER_DAY.isoformat()),
        lambda c: available_statement(AvailableQuery(c, RADIUS_KM * 1000.0, ORDER_DAY, LIMIT)),
        signed_in=True,
    ),
]


@dataclass
class Throughput:
    tool: str
    rps: float
    requests: int
    seconds: float
    cpu_ms: dict[str, float] | None = None
    """Each group's ms of CPU per request (bench.cpu_use), when measured."""


def with_cpu(cpu: CpuUse, run: Callable[..., Throughput], *arguments: Any) -> Throughput:
    """`run(*arguments)`'s measurement with the CPU each group spent per request."""
    measured, per_request = cpu.per_request(lambda: run(*arguments), lambda done: done.requests)
    return replace(measured, cpu_ms=per_request)


def ceiling_of(floor: Throughput, health: Throughput) -> Throughput:
    """The most an app on the same cores could answer: each request costs at least the
    SQL's share of the machine (1/floor) and the app's least, /health's (1/health), so it
    cannot beat 1 / (1/floor + 1/health)."""
    rps = 1 / (1 / floor.rps + 1 / health.rps)
    return Throughput("1/(1/floor + 1/health)", rps, 0, 0.0)


# The SQL floor -------------------------------------------------------------------------


def asyncpg_statements(bounds: Sequence[Bound]) -> list[tuple[str, list[Any]]]:
    """The SQL the API sends for each of `bounds`, and its arguments in order."""
    return [
        (driven.sql, driven.arguments(bound.parameters))
        for bound in bounds
        for driven in [compiled(bound.statement)]
    ]


async def asyncpg_floor(
    url: str, statements: Sequence[tuple[str, list[Any]]], seconds: float
) -> Throughput:
    """The statements in turn on CONCURRENCY raw asyncpg connections that start as the
    API's read pool's do: the most a client could get from this database."""
    settings = read_pool_server_settings(index_ordered_connection_settings(STATEMENT_TIMEOUT_MS))
    connections = [
        await asyncpg.connect(asyncpg_dsn(url), server_settings=settings)
        for _ in range(CONCURRENCY)
    ]
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(connection: asyncpg.Connection, offset: int) -> None:
        nonlocal done
        i = offset
        while time.perf_counter() < deadline:
            sql, args = statements[i % len(statements)]
            await connection.fetch(sql, *args)
            done += 1
            i += CONCURRENCY

    try:
        for sql, args in statements[:CONCURRENCY]:  # prepared on every connection first
            for connection in connections:
                await connection.fetch(sql, *args)
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(client(c, n) for n, c in enumerate(connections)))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    return Throughput("asyncpg", done / elapsed, done, elapsed)


def pgbench_floor(url: str, seconds: float) -> Throughput:
    """Nearby's statement in pgbench with the same parameters, its centre drawn as
    `dense_centers` draws them, prepared once per connection and planned for each
    execution's values."""
    [(sql, args)] = asyncpg_statements([SEARCHES[0].bound(DENSE_TOWNS[0])])
    towns = DENSE_TOWNS

    def pick(coordinate: Callable[[Point], float], spread: int) -> str:
        cases = " ".join(f"when :t = {i} then {coordinate(t)}" for i, t in enumerate(towns))
        return f"case {cases} end + random(-{spread}, {spread}) / 1000000.0"

    centre = {1: pick(lambda t: t.longitude, 100_000), 2: pick(lambda t: t.latitude, 50_000)}
    lines = [f"\\set t random(0, {len(towns) - 1})"]
    for n in range(len(args), 0, -1):  # $12 before $1
        value = centre.get(n) or str(args[n - 1]).lower()  # lower: False is false
        lines.append(f"\\set p{n} {value}")
        sql = sql.replace(f"${n}", f":p{n}")
    script = "\n".join(lines) + "\n" + " ".join(sql.split()) + ";\n"
    settings = read_pool_server_settings(index_ordered_connection_settings(STATEMENT_TIMEOUT_MS))
    options = " ".join(f"-c {name}={value}" for name, value in settings.items())
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as file:
        file.write(script)
        file.flush()
        command = ["pgbench", "-n", "-M", "prepared", "-c", str(CONCURRENCY), "-j", "2"]
        command += ["-T", str(round(seconds)), "-f", file.name, asyncpg_dsn(url)]
        output = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PGOPTIONS": options},
        ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", output)[1])  # type: ignore[index]
    done = int(re.search(r"number of transactions actually processed: (\d+)", output)[1])  # type: ignore[index]
    return Throughput("pgbench", tps, done, seconds)


# HTTP load through wrk -----------------------------------------------------------------


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk(
    url: str, paths: Sequence[str], seconds: float, headers: dict[str, str], in_turn: bool
) -> Throughput:
    """`paths` requested by CONCURRENCY connections for `seconds`: each once, in turn across
    the connections (`in_turn`, for requests that must not repeat), or drawn at random.
    Every answer must be a 2xx."""
    table = ",\n".join(_lua_string(p) for p in paths)
    header_lines = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
    )
    script = f"""
local paths = {{
{table}
}}
{header_lines}
local threads, counter = 0, 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  counter = id
end
function request()
  local path
  if {"true" if in_turn else "false"} then
    path = paths[(counter % #paths) + 1]
    counter = counter + 2
  else
    path = paths[math.random(#paths)]
  end
  return wrk.format("GET", path)
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", "-t", "2", "-c", str(CONCURRENCY), "-d", f"{max(1, round(seconds))}s"]
        command += ["-s", file.name, url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if bad := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise RuntimeError(f"{bad[1]} answers were not 2xx: {output}")
    if errors := re.search(r"Socket errors: .*", output):
        raise RuntimeError(f"wrk saw socket errors: {errors[0]}")
    done = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    if in_turn and done > len(paths):
        raise RuntimeError(f"{done} requests but only {len(paths)} distinct searches")
    return Throughput("wrk", rps, done, seconds)


def _query(params: dict[str, str]) -> str:
    return str(httpx.QueryParams(params))


def _nudged(center: Point, rng: random.Random) -> Point:
    """The same centre to within 0.1 m, as a search of its own."""
    return Point(
        center.latitude + rng.uniform(-1e-6, 1e-6), center.longitude + rng.uniform(-1e-6, 1e-6)
    )


def server_environment(url: str, redis_url: str) -> dict[str, str]:
    """The API as deployed (limits, metrics, request ids), with limits no load here reaches."""
    return {
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "PROCESSES": "2",
        "RATE_LIMIT_CLIENT": "10000000/minute",
        "RATE_LIMIT_EVERYONE": "10000000/minute",
        "RATE_LIMIT_REGISTER": "1000/minute",
        "RATE_LIMIT_LOGIN": "1000/minute",
    }


@contextmanager
def served(environment: dict[str, str], target: str = "app.main:create_app") -> Iterator[str]:
    with tempfile.TemporaryDirectory() as metrics:
        environment = {**environment, "PROMETHEUS_MULTIPROC_DIR": metrics}
        with live_server(environment, workers=2, target=target) as url:
            yield url


# Redis GEOSEARCH, the peer ---------------------------------------------------------------


async def redis_geosearch(
    url: str, redis_url: str, centers: Sequence[Point], seconds: float
) -> Throughput:
    """The same active providers in a Redis geo set, searched as nearby searches: within
    RADIUS_KM, nearest first, LIMIT of them, with distances."""
    key = "bench:providers"
    redis = Redis.from_url(redis_url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await redis.delete(key)
        async with connection.transaction():
            cursor = connection.cursor(
                "SELECT longitude, latitude, id FROM providers WHERE is_active"
            )
            batch: list[Any] = []
            async for row in cursor:
                batch += row
                if len(batch) >= 30_000:
                    await redis.geoadd(key, batch)
                    batch = []
            if batch:
                await redis.geoadd(key, batch)
        done = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def client(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() < deadline:
                c = centers[i % len(centers)]
                await redis.geosearch(
                    key,
                    longitude=c.longitude,
                    latitude=c.latitude,
                    radius=RADIUS_KM,
                    unit="km",
                    sort="ASC",
                    count=LIMIT,
                    withdist=True,
                )
                done += 1
                i += CONCURRENCY

        await asyncio.gather(*(client(n) for n in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    finally:
        await redis.delete(key)
        await redis.aclose()
        await connection.close()
    return Throughput("redis", done / elapsed, done, elapsed)


# The run -------------------------------------------------------------------------------


@dataclass
class Report:
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, group: str, what: str, measured: Throughput) -> Throughput:
        row = {
            "group": group,
            "what": what,
            "tool": measured.tool,
            "rps": round(measured.rps, 1),
            "requests": measured.requests,
            "seconds": round(measured.seconds, 1),
        }
        self.rows.append(row | ({"cpu_ms": measured.cpu_ms} if measured.cpu_ms else {}))
        log(f"{group}, {what}: {measured.rps:,.0f}/s")
        return measured


def run(url: str, redis_url: str, seconds: float, samples: int) -> dict[str, Any]:
    """Every measurement on the database at `url`; the results and the target ratios."""
    rng = random.Random(7)
    report = Report()
    ratios: dict[str, float] = {}
    centers = dense_centers(samples, rng)
    headers = {"Accept-Encoding": "br, gzip"}
    with served(server_environment(url, redis_url)) as api, served({}, target=BARE_APP) as bare:
        cpu = CpuUse(httpx.URL(api).port or 80)
        token = asyncio.run(_provider_token(api))
        health, bare_health = _health_medians(api, bare, seconds, headers, cpu)
        report.add("health", "/health (API)", health)
        report.add("health", "/health (bare Litestar)", bare_health)
        ratios["health / bare Litestar"] = health.rps / bare_health.rps
        for kind in SEARCHES:
            statements = asyncpg_statements([kind.bound(c) for c in centers])
            floor = report.add(
                kind.name,
                "floor",
                with_cpu(cpu, asyncio.run, asyncpg_floor(url, statements, seconds)),
            )
            asked = {**headers, **({"Authorization": f"Bearer {token}"} if kind.signed_in else {})}
            fresh = [f"{kind.path}?{_query(kind.params(_nudged(c, rng)))}" for c in centers]
            asyncio.run(_forget_cached_answers(redis_url))  # an earlier run asked the same
            uncached = report.add(
                kind.name,
                "API uncached",
                with_cpu(cpu, wrk, api, fresh, seconds, asked, True),
            )
            ceiling = report.add(kind.name, "ceiling", ceiling_of(floor, health))
            ratios[f"{kind.name} uncached / floor"] = uncached.rps / floor.rps
            ratios[f"{kind.name} uncached / ceiling"] = uncached.rps / ceiling.rps
            if kind.signed_in:
                continue  # answers for one user are never cached
            warm = [f"{kind.path}?{_query(kind.params(c))}" for c in centers[:CACHED_SAMPLES]]
            _warm(api, warm, headers)
            cached = report.add(
                kind.name,
                "API cached",
                with_cpu(cpu, wrk, api, warm, seconds, headers, False),
            )
            ratios[f"{kind.name} cached / health"] = cached.rps / health.rps
        nearby_pgbench = report.add("nearby", "floor", with_cpu(cpu, pgbench_floor, url, seconds))
    geosearch = report.add(
        "nearby", "Redis GEOSEARCH", asyncio.run(redis_geosearch(url, redis_url, centers, seconds))
    )
    ratios["nearby pgbench floor / Redis GEOSEARCH"] = nearby_pgbench.rps / geosearch.rps
    return {"concurrency": CONCURRENCY, "rows": report.rows, "ratios": ratios}


async def _forget_cached_answers(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.incr(EPOCH_KEY)
    finally:
        await redis.aclose()


def _health_medians(
    api: str, bare: str, seconds: float, headers: dict[str, str], cpu: CpuUse
) -> tuple[Throughput, Throughput]:
    """/health of the API and of the bare app, taking turns HEALTH_ROUNDS times: the
    medians, as these short, light runs swing most with the machine's other load."""
    rounds = [
        (
            with_cpu(cpu, wrk, api, ["/health"], seconds, headers, False),
            wrk(bare, ["/health"], seconds, {}, False),
        )
        for _ in range(HEALTH_ROUNDS)
    ]
    return _median([a for a, _ in rounds]), _median([b for _, b in rounds])


def _median(runs: list[Throughput]) -> Throughput:
    middle = sorted(runs, key=lambda run: run.rps)[len(runs) // 2]
    return replace(middle, tool=f"{middle.tool}, median of {len(runs)}")


async def _provider_token(api: str) -> str:
    async with httpx.AsyncClient(base_url=api) as client:
        signed_in = await sign_up(client, "provider")
    return signed_in.headers["Authorization"].removeprefix("Bearer ")


def _warm(api: str, paths: Sequence[str], headers: dict[str, str]) -> None:
    with httpx.Client(base_url=api, headers=headers) as client:
        for path in paths:
            client.get(path).raise_for_status()


def table(result: dict[str, Any]) -> str:
    lines = ["| search | what | tool | per second |", "|---|---|---|---:|"]
    lines += [
        f"| {r['group']} | {r['what']} | {r['tool']} | {r['rps']:,.0f} |" for r in result["rows"]
    ]
    groups = ("API", "PostgreSQL", "Redis", "load", "machine")
    lines += ["", "CPU per request, ms (load: wrk, pgbench or the asyncpg client):", ""]
    lines += ["| search | what | " + " | ".join(groups) + " |", "|---|---|" + "---:|" * 5]
    lines += [
        f"| {r['group']} | {r['what']} | "
        + " | ".join(f"{r['cpu_ms'].get(g, 0):.2f}" for g in groups)
        + " |"
        for r in result["rows"]
        if "cpu_ms" in r
    ]
    lines += ["", "| ratio | measured |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in result["ratios"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="throughput against the floor and peers")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--samples", type=int, default=20_000, help="distinct searches")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL") or sys.exit("DATABASE_URL is not set")
    dataset = Dataset(args.size, Distribution.clustered)
    url = asyncio.run(prepared(admin_url, dataset))
    result = run(url, os.environ["REDIS_URL"], args.seconds, args.samples)
    print(table(result))
    write_results("throughput", {"providers": dataset.label, "seconds": args.seconds, **result})


if __name__ == "__main__":
    main()
