"""Nearby-search latency per strategy, sizes and radii, measured in one run.

For each size it uses that many clustered providers in a benchmark database of its own
(bench.databases), seeded once and reused by later runs. Queries are centred in the densest
seeded areas and the strategies take turns on the same centers, so machine noise hits
them alike; the table's ratios are the figures to compare. Every query also checks that
all strategies returned the same page.

    python -m bench.nearby_latency [--sizes 100000 1000000] [--samples 40]
"""

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.databases import Dataset, log, prepared
from bench.reporting import write_results
from bench.throughput import dense_centers
from db.engine import make_engine, make_read_pool
from db.nearest import index_ordered_connection_settings
from db.search import NearbyQuery, ProviderSearch, SearchStrategy
from db.seed import Distribution

RADII_KM = (10, 50, 100)
LIMIT = 100
# Loading every row into Python costs seconds at 1M, so the naive strategy gets fewer turns.
# The naive strategy reads every provider: give it a minute.
STATEMENT_TIMEOUT_MS = 60_000
NAIVE_SAMPLES = {100_000: 10, 1_000_000: 3}


@dataclass
class Row:
    providers: int
    radius_km: int
    strategy: str
    samples: int
    p50_ms: float
    p95_ms: float


async def timed_round(
    engine: AsyncEngine,
    search: ProviderSearch,
    query: NearbyQuery,
    strategies: list[SearchStrategy],
) -> dict[SearchStrategy, float]:
    """Each strategy answers the same query once; they must agree on the page."""
    timings, pages = {}, set()
    for strategy in strategies:
        async with AsyncSession(engine) as session:
            started = time.perf_counter()
            page = await search.nearby(session, query, strategy)
            timings[strategy] = (time.perf_counter() - started) * 1000
        pages.add(tuple(hit.id for hit in page.items))
    if len(pages) != 1:
        raise SystemExit(f"strategies disagree at {query.center} r={query.radius_m} m")
    return timings


async def measure(url: str, size: int, samples: int, rng: random.Random) -> list[Row]:
    engine = make_engine(url)
    # As the API runs them: gist on the pool whose connections carry its settings.
    pool = make_read_pool(url, index_ordered_connection_settings(STATEMENT_TIMEOUT_MS))
    search = ProviderSearch(STATEMENT_TIMEOUT_MS, pool)
    rows = []
    try:
        for radius_km in RADII_KM:
            timings: dict[SearchStrategy, list[float]] = {s: [] for s in SearchStrategy}
            for i, center in enumerate(dense_centers(samples, rng)):
                strategies = [
                    s
                    for s in SearchStrategy
                    if s is not SearchStrategy.naive or i < NAIVE_SAMPLES.get(size, samples)
                ]
                query = NearbyQuery(center, radius_km * 1000, LIMIT)
                for strategy, elapsed_ms in (
                    await timed_round(engine, search, query, strategies)
                ).items():
                    timings[strategy].append(elapsed_ms)
            for strategy, samples_ms in timings.items():
                row = Row(size, radius_km, strategy.value, len(samples_ms), *summary(samples_ms))
                rows.append(row)
                log(
                    f"{size:,} providers, {radius_km} km, {strategy.value}: p95 {row.p95_ms:.2f} ms"
                )
    finally:
        await engine.dispose()
        await pool.dispose()
    return rows


def summary(samples_ms: list[float]) -> tuple[float, float]:
    """p50 and p95 (nearest rank)."""
    ordered = sorted(samples_ms)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return rank(0.5), rank(0.95)


def table(rows: list[Row]) -> str:
    p95 = {(r.providers, r.radius_km, r.strategy): r.p95_ms for r in rows}
    lines = [
        "| providers | radius | strategy | samples | p50 ms | p95 ms | p95 vs gist |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r.p95_ms / p95[(r.providers, r.radius_km, "gist")]
        lines.append(
            f"| {r.providers:,} | {r.radius_km} km | {r.strategy} | {r.samples} | "
            f"{r.p50_ms:.2f} | {r.p95_ms:.2f} | {ratio:.1f}x |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description="nearby latency per strategy")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL") or sys.exit("DATABASE_URL is not set")
    rng = random.Random(1)
    rows: list[Row] = []
    for size in args.sizes:
        url = await prepared(admin_url, Dataset(size, Distribution.clustered))
        rows += await measure(url, size, args.samples, rng)
    print(table(rows))
    write_results("nearby_latency", {"limit": LIMIT, "rows": [asdict(r) for r in rows]})


if __name__ == "__main__":
    asyncio.run(main())
