"""The strategy comparison: naive, bbox and gist nearby search at 10k, 100k and 1M
providers, uniform and clustered, radius 10, 50 and 100 km, limit 100, in one run.

Each size and distribution has a benchmark database of its own (bench.databases). For
every radius the strategies take turns on the same random centres near the five biggest
towns, so machine noise hits them alike, and report:

- latency at the API boundary: `GET /api/providers/nearby?strategy=…` through the whole
  app in process (middleware, validation, the search, JSON), the search cache emptied
  first so that every request is a miss;
- inside the database: `EXPLAIN (ANALYZE, BUFFERS)` of the strategy's statement at the
  first centres, with the settings the API runs it with: execution time, rows its scans
  read, shared buffers touched;
- naive's memory: the peak of Python's allocations while it loads every provider;
- the bbox prefilter's false-positive rate: of the active providers inside its boxes, the
  share beyond the radius;
- correctness: all strategies must return the same page; the run fails otherwise.

    python -m bench.strategies [--sizes 10000 100000] [--samples 40] [--quick]
"""

import argparse
import asyncio
import os
import random
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass, fields
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.settings import from_env
from bench.databases import Dataset, log, prepared
from bench.reporting import write_results
from bench.throughput import dense_centers
from db.databases import direct_url
from db.engine import make_engine
from db.nearest import Bound, lent
from db.search import (
    NearbyQuery,
    ProviderSearch,
    bbox_false_positives,
    naive_statement,
    nearby_statement,
)
from db.search_cache import EPOCH_KEY
from db.seed import Distribution
from geo.distance import Point
from geo.strategies import SearchStrategy
from tests.support.plans import explained, nodes

SIZES = (10_000, 100_000, 1_000_000)
RADII_KM = (10, 50, 100)
LIMIT = 100
STATEMENT_TIMEOUT_MS = 60_000
# Naive loads every provider into Python (seconds at 1M): fewer turns for it there.
NAIVE_SAMPLES = {100_000: 8, 1_000_000: 3}
EXPLAINED = 3
"""How many of each radius's centres are EXPLAINed per strategy (their mean is shown)."""
QUICK_SIZES, QUICK_RADII_KM, QUICK_SAMPLES = [10_000], [10, 50], 10


@dataclass
class Row:
    providers: int
    distribution: str
    radius_km: int
    strategy: str
    samples: int
    p50_ms: float
    p95_ms: float
    db_ms: float
    """Execution time inside PostgreSQL (EXPLAIN ANALYZE without per-node timing), mean
    over EXPLAINED centres."""
    rows_read: float
    """Rows its scans read (returned or filtered out), mean over EXPLAINED centres."""
    buffers: float
    """Shared buffers touched (hit or read), mean over EXPLAINED centres."""
    false_positive_rate: float | None = None
    """bbox only: the share of rows inside its boxes that are beyond the radius."""
    peak_mib: float | None = None
    """naive only: peak Python allocation during one search."""


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_app(url: str) -> Litestar:
    settings = from_env(
        os.environ
        | {
            "DATABASE_URL": url,
            "DATABASE_REPLICA_URL": "",  # the benchmark database is on the primary alone
            "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
            # Naive is slow by design: no warning for each of its searches.
            "DB_SLOW_INFO_MS": str(STATEMENT_TIMEOUT_MS),
            "DB_SLOW_WARNING_MS": str(STATEMENT_TIMEOUT_MS),
            "RATE_LIMITS_ENABLED": "false",
            "SEARCH_STRATEGIES": "gist,bbox,naive",
            "SEARCH_COSTLY_AT_ONCE": "4",
        }
    )
    return create_app(settings)


def _query(center: Point, radius_km: int) -> NearbyQuery:
    return NearbyQuery(center, radius_km * 1000, LIMIT)


async def _timed(
    client: AsyncTestClient[Litestar], center: Point, radius_km: int, strategy: SearchStrategy
) -> tuple[float, tuple[int, ...]]:
    params = {
        "lat": center.latitude,
        "lng": center.longitude,
        "radius_km": radius_km,
        "limit": LIMIT,
        "strategy": strategy.value,
    }
    started = time.perf_counter()
    answer = await client.get("/api/providers/nearby", params=params)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise SystemExit(f"{strategy} answered {answer.status_code}: {answer.text}")
    return elapsed_ms, tuple(item["id"] for item in answer.json()["items"])


async def api_latencies(
    client: AsyncTestClient[Litestar], centers: list[Point], radius_km: int, naive_turns: int
) -> dict[SearchStrategy, list[float]]:
    """Each centre asked of every strategy in turn (naive only for the first
    `naive_turns`); the pages must be the same. A first, untimed round opens and prepares
    what each strategy needs."""
    for strategy in SearchStrategy:
        await _timed(client, centers[-1], radius_km, strategy)
    timings: dict[SearchStrategy, list[float]] = {s: [] for s in SearchStrategy}
    for i, center in enumerate(centers):
        strategies = [s for s in SearchStrategy if s is not SearchStrategy.naive or i < naive_turns]
        pages = set()
        for strategy in strategies[i % len(strategies) :] + strategies[: i % len(strategies)]:
            elapsed_ms, page = await _timed(client, center, radius_km, strategy)
            timings[strategy].append(elapsed_ms)
            pages.add(page)
        if len(pages) != 1:
            raise SystemExit(f"strategies disagree at {center}, {radius_km} km")
    return timings


@dataclass(frozen=True, slots=True)
class Explained:
    db_ms: float
    rows_read: float
    buffers: float


def _rows_read(scan: dict[str, Any]) -> float:
    removed = scan.get("Rows Removed by Filter", 0) + scan.get("Rows Removed by Index Recheck", 0)
    return float((scan["Actual Rows"] + removed) * scan["Actual Loops"])


async def explain(
    search: ProviderSearch, session: AsyncSession, bound: Bound, strategy: SearchStrategy
) -> Explained:
    """EXPLAIN (ANALYZE, BUFFERS) with the settings the API runs the strategy with."""
    await search.apply(session, index_ordered=strategy is SearchStrategy.gist)
    output = await explained(session, *bound, options="ANALYZE, BUFFERS, TIMING OFF")
    plan = output["Plan"]
    buffers = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    rows = sum(_rows_read(node) for node in nodes(plan) if "Scan" in node["Node Type"])
    return Explained(output["Execution Time"], rows, buffers)


def _bound(query: NearbyQuery, strategy: SearchStrategy) -> Bound:
    if strategy is SearchStrategy.naive:
        return naive_statement(query)
    return nearby_statement(query, strategy)


async def inside_database(
    url: str, centers: list[Point], radius_km: int
) -> tuple[dict[SearchStrategy, Explained], float]:
    """Each strategy EXPLAINed at `centers`, and bbox's false-positive rate there. One
    connection: its first search of a kind pays PostGIS's set-up in that backend (~18 ms),
    so an untimed one goes first."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    search = ProviderSearch(STATEMENT_TIMEOUT_MS)
    means = {}
    try:
        for strategy in SearchStrategy:
            runs = []
            for center in [centers[0], *centers]:
                async with AsyncSession(engine) as session:
                    bound = _bound(_query(center, radius_km), strategy)
                    runs.append(await explain(search, session, bound, strategy))
            runs = runs[1:]
            means[strategy] = Explained(
                *(sum(getattr(r, f.name) for r in runs) / len(runs) for f in fields(Explained))
            )
        async with AsyncSession(engine) as session:
            await search.apply(session, index_ordered=False)
            counts = [
                (await session.execute(*bbox_false_positives(_query(c, radius_km)))).one()
                for c in centers
            ]
    finally:
        await engine.dispose()
    in_boxes = sum(total for total, _ in counts)
    beyond = sum(total - within for total, within in counts)
    return means, beyond / in_boxes if in_boxes else 0.0


async def naive_peak_mib(url: str, center: Point) -> float:
    """Python's peak allocation while naive answers one search (tracemalloc)."""
    engine = make_engine(url)
    search = ProviderSearch(STATEMENT_TIMEOUT_MS)
    try:
        async with AsyncSession(engine) as session:
            await session.execute(select(1))  # connected before measuring
            tracemalloc.start()
            try:
                await search.nearby(lent(session), _query(center, 50), SearchStrategy.naive)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        await engine.dispose()
    return peak / 2**20


async def measure(
    dataset: Dataset, url: str, radii: list[int], samples: int, rng: random.Random
) -> list[Row]:
    rows = []
    app = bench_app(url)
    redis = Redis.from_url(os.environ["REDIS_URL"])
    async with AsyncTestClient(app=app) as client:
        await redis.incr(EPOCH_KEY)  # no answer from an earlier run is served from the cache
        for radius_km in radii:
            centers = dense_centers(samples, rng)
            naive_turns = NAIVE_SAMPLES.get(dataset.size, samples)
            timings = await api_latencies(client, centers, radius_km, naive_turns)
            explained, false_positives = await inside_database(url, centers[:EXPLAINED], radius_km)
            for strategy, samples_ms in timings.items():
                row = Row(
                    dataset.size,
                    dataset.distribution.value,
                    radius_km,
                    strategy.value,
                    len(samples_ms),
                    percentile(samples_ms, 0.5),
                    percentile(samples_ms, 0.95),
                    **asdict(explained[strategy]),
                    false_positive_rate=(
                        false_positives if strategy is SearchStrategy.bbox else None
                    ),
                )
                rows.append(row)
                log(
                    f"{dataset.label} providers, {radius_km} km, {strategy}: p50"
                    f" {row.p50_ms:.1f} ms, p95 {row.p95_ms:.1f} ms, {row.rows_read:,.0f} rows read"
                )
    await redis.aclose()
    peak = await naive_peak_mib(url, centers[0])
    for row in rows:
        if row.strategy == SearchStrategy.naive:
            row.peak_mib = peak
    return rows


def table(rows: list[Row]) -> str:
    gist = {(r.providers, r.distribution, r.radius_km): r for r in rows if r.strategy == "gist"}
    lines = [
        "| providers | distribution | radius | strategy | p50 ms | p95 ms | p95 vs gist"
        " | in DB ms | rows read | buffers | bbox false positives | naive peak MiB |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r.p95_ms / gist[(r.providers, r.distribution, r.radius_km)].p95_ms
        fp = "" if r.false_positive_rate is None else f"{r.false_positive_rate:.0%}"
        peak = "" if r.peak_mib is None else f"{r.peak_mib:,.0f}"
        lines.append(
            f"| {r.providers:,} | {r.distribution} | {r.radius_km} km | {r.strategy}"
            f" | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {ratio:.1f}x | {r.db_ms:.1f}"
            f" | {r.rows_read:,.0f} | {r.buffers:,.0f} | {fp} | {peak} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description="nearby search strategies compared")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--radii", type=int, nargs="+", default=list(RADII_KM))
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="10k providers, 10 and 50 km")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.radii, args.samples = QUICK_SIZES, QUICK_RADII_KM, QUICK_SAMPLES
    admin_url = direct_url() or sys.exit("DATABASE_URL is not set")
    rng = random.Random(1)
    rows: list[Row] = []
    for size in args.sizes:
        for distribution in Distribution:
            dataset = Dataset(size, distribution)
            url = await prepared(admin_url, dataset)
            rows += await measure(dataset, url, args.radii, args.samples, rng)
    print(table(rows))
    write_results(
        "strategies", {"limit": LIMIT, "rows": [asdict(r) for r in rows]}, quick=args.quick
    )


if __name__ == "__main__":
    asyncio.run(main())
