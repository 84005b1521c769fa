"""Zoomed-out maps at a million providers: clusters and vector tiles, uncached.

For each zoom and view over the densest region (Stockholm) it reports:

- latency at the API boundary: `GET /api/providers/clusters` and the tile over
  Stockholm through the whole app in process, the search cache ended before each request
  so that every one is a miss;
- the clusters statement alone, from the counts the database keeps (zooms up to 12) and
  by grouping every provider on each request (the way it was done before, and still is
  deeper), and the ratio between them;
- exactness: both must return the same clusters (counts equal, centroids within 1e-9°);
  the run fails otherwise.

Views: all of Scandinavia (where the zoom allows it), a 1920x1080 px screen, and the
largest viewport the endpoint accepts (CLUSTERS_MAX_CELLS cells), each centred on Stockholm.

    python -m bench.map_views [--sizes 100000 1000000] [--samples 20] [--quick]
"""

import argparse
import asyncio
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import SearchLimits
from bench.databases import Dataset, log, prepared
from bench.reporting import splice, write_results
from bench.strategies import bench_app, percentile
from db.clusters import ClusterView, clusters_statement
from db.databases import direct_url
from db.engine import make_engine
from db.nearest import Bound
from db.search_cache import EPOCH_KEY
from db.seed import Distribution
from geo.clusters import PRECOMPUTED_MAX_ZOOM, cell_count, cell_size_deg
from geo.tiles import MERCATOR_MAX_LAT, Tile
from geo.viewport import Viewport

SIZES = (100_000, 1_000_000)
ZOOMS = (3, 4, 5, 6, 8, 10, 12, 13, 14, 16)
TILE_ZOOMS = (3, 6, 9, 12, 13, 14)
STOCKHOLM = (59.3294, 18.0687)
SCANDINAVIA = Viewport(4.0, 54.0, 32.0, 71.0)
SCREEN_PX = (1920, 1080)
GROUPED_SAMPLES = 3
"""Grouping every provider takes seconds at a million: fewer turns for it."""
QUICK_SIZES, QUICK_SAMPLES = [10_000], 5


@dataclass
class Row:
    providers: int
    kind: str
    """clusters, or tile"""
    zoom: int
    view: str
    items: int
    """Clusters returned, or bytes of the tile."""
    app_p50_ms: float
    app_p95_ms: float
    kept_sql_ms: float | None
    grouped_sql_ms: float | None


def _mercator_y(latitude: float) -> float:
    return math.asinh(math.tan(math.radians(latitude)))


def _latitude(mercator_y: float) -> float:
    return math.degrees(math.atan(math.sinh(mercator_y)))


def _screen(zoom: int) -> Viewport:
    """A 1920x1080 px web map at `zoom` centred on Stockholm (256 px tiles)."""
    lat, lng = STOCKHOLM
    world_px = 256 * 2**zoom
    half_lng = SCREEN_PX[0] / world_px * 180
    half_y = SCREEN_PX[1] / world_px * math.pi
    south = max(_latitude(_mercator_y(lat) - half_y), -MERCATOR_MAX_LAT)
    north = min(_latitude(_mercator_y(lat) + half_y), MERCATOR_MAX_LAT)
    return Viewport(max(lng - half_lng, -180), south, min(lng + half_lng, 180), north)


def _largest(zoom: int, max_cells: int) -> Viewport:
    lat, lng = STOCKHOLM
    half = (math.isqrt(max_cells) - 1) * cell_size_deg(zoom) / 2
    return Viewport(
        max(lng - half, -180), max(lat - half, -90), min(lng + half, 180), min(lat + half, 90)
    )


def views(zoom: int, max_cells: int) -> dict[str, Viewport]:
    candidates = {
        "Scandinavia": SCANDINAVIA,
        "1920x1080 screen": _screen(zoom),
        "largest allowed": _largest(zoom, max_cells),
    }
    return {name: v for name, v in candidates.items() if cell_count(v, zoom) <= max_cells}


def _bbox(viewport: Viewport) -> str:
    return f"{viewport.min_lng},{viewport.min_lat},{viewport.max_lng},{viewport.max_lat}"


async def _uncached(
    client: AsyncTestClient[Litestar], redis: Redis, path: str, params: dict[str, Any], samples: int
) -> tuple[list[float], bytes]:
    timings, body = [], b""
    for _ in range(samples):
        await redis.incr(EPOCH_KEY)
        started = time.perf_counter()
        answer = await client.get(path, params=params)
        timings.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path} {params} answered {answer.status_code}: {answer.text}")
        body = answer.content
    return timings, body


async def _sql(engine: AsyncEngine, bound: Bound, samples: int) -> tuple[float, list[Any]]:
    """Median wall time of the statement on a warm connection, and its rows."""
    timings: list[float] = []
    rows: list[Any] = []
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SET jit = off")
        for _ in range(samples):
            started = time.perf_counter()
            rows = list((await connection.execute(*bound)).all())
            timings.append((time.perf_counter() - started) * 1000)
    return percentile(timings, 0.5), rows


def _check_same(kept: list[Any], grouped: list[Any], where: str) -> None:
    by_count = sorted((r.count, r.latitude, r.longitude) for r in kept)
    other = sorted((r.count, r.latitude, r.longitude) for r in grouped)
    same = len(by_count) == len(other) and all(
        a[0] == b[0] and abs(a[1] - b[1]) < 1e-9 and abs(a[2] - b[2]) < 1e-9
        for a, b in zip(by_count, other, strict=True)
    )
    if not same:
        raise SystemExit(f"kept counts and grouped providers disagree: {where}")


async def _clusters(
    client: AsyncTestClient[Litestar],
    redis: Redis,
    engine: AsyncEngine,
    dataset: Dataset,
    samples: int,
) -> list[Row]:
    rows = []
    for zoom in ZOOMS:
        for name, viewport in views(zoom, SearchLimits().clusters_max_cells).items():
            params = {"bbox": _bbox(viewport), "zoom": zoom}
            timings, _ = await _uncached(client, redis, "/api/providers/clusters", params, samples)
            view = ClusterView(viewport, zoom)
            grouped_ms, grouped = await _sql(
                engine, clusters_statement(view, grouped=True), GROUPED_SAMPLES
            )
            kept_ms = None
            if zoom <= PRECOMPUTED_MAX_ZOOM:
                kept_ms, kept = await _sql(engine, clusters_statement(view), samples)
                _check_same(kept, grouped, f"{dataset.label}, zoom {zoom}, {name}")
            row = Row(
                dataset.size,
                "clusters",
                zoom,
                name,
                len(grouped),
                percentile(timings, 0.5),
                percentile(timings, 0.95),
                kept_ms,
                grouped_ms,
            )
            log(f"{dataset.label} clusters, zoom {zoom}, {name}: p95 {row.app_p95_ms:.1f} ms")
            rows.append(row)
    return rows


async def _tiles(
    client: AsyncTestClient[Litestar], redis: Redis, dataset: Dataset, samples: int
) -> list[Row]:
    rows = []
    for zoom in TILE_ZOOMS:
        tile = Tile.containing(*STOCKHOLM, zoom)
        path = f"/api/tiles/providers/{tile.z}/{tile.x}/{tile.y}.mvt"
        timings, body = await _uncached(client, redis, path, {}, samples)
        row = Row(
            dataset.size,
            "tile",
            zoom,
            "the tile over Stockholm",
            len(body),
            percentile(timings, 0.5),
            percentile(timings, 0.95),
            None,
            None,
        )
        log(f"{dataset.label} tile {path}: p95 {row.app_p95_ms:.1f} ms, {len(body):,} bytes")
        rows.append(row)
    return rows


async def measure(dataset: Dataset, url: str, samples: int) -> list[Row]:
    redis = Redis.from_url(os.environ["REDIS_URL"])
    engine = make_engine(url)
    try:
        async with AsyncTestClient(app=bench_app(url)) as client:
            rows = await _clusters(client, redis, engine, dataset, samples)
            rows += await _tiles(client, redis, dataset, samples)
    finally:
        await engine.dispose()
        await redis.aclose()
    return rows


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| providers | what | zoom | view | clusters or bytes | app p50 ms | app p95 ms"
        " | kept counts SQL ms | grouping providers SQL ms | grouping / kept |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = (
            ""
            if not (r.kept_sql_ms and r.grouped_sql_ms)
            else f"{r.grouped_sql_ms / r.kept_sql_ms:,.0f}x"
        )
        lines.append(
            f"| {r.providers:,} | {r.kind} | {r.zoom} | {r.view} | {r.items:,} | {r.app_p50_ms:.1f}"
            f" | {r.app_p95_ms:.1f} | {_ms(r.kept_sql_ms)} | {_ms(r.grouped_sql_ms)} | {ratio} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description="clusters and tiles of zoomed-out maps")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="10k providers, 5 samples")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.samples = QUICK_SIZES, QUICK_SAMPLES
    admin_url = direct_url() or sys.exit("DATABASE_URL is not set")
    rows: list[Row] = []
    for size in args.sizes:
        dataset = Dataset(size, Distribution.clustered)
        rows += await measure(dataset, await prepared(admin_url, dataset), args.samples)
    print(table(rows))
    write_results("map_views", {"rows": [asdict(r) for r in rows]}, quick=args.quick)
    if not args.quick:
        splice("benchmarks.md", "map-views", table(rows))


if __name__ == "__main__":
    asyncio.run(main())
