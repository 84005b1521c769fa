"""Route optimizer time and route length per stop count, against its nearest-neighbour
start, the field's solvers, and the exact optimum.

Stops are stables scattered over the Uppsala region (up to ~100 km apart), a fresh set
per sample; every strategy plans the same sets in turn, so machine noise hits them alike:
the product's optimizer (geo.routes) and the nearest-neighbour route it starts from, VROOM (pyvroom,
exploration level 5, one thread) and OR-Tools (guided local search, stopped after
ORTOOLS_BUDGET_MS, the product's p95 budget), and, up to EXACT_MAX_STOPS, the exact
shortest open path by dynamic programming over subsets (Held-Karp). The table gives p50
and p95 time, the mean length, and the mean gap per instance to the best route any of
them found (the optimum, where it is computed).

    python -m bench.route_optimizer [--stops 8 12 25 50] [--samples 30]
"""

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import vroom
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from bench.reporting import splice
from geo.day_plan import Day, Visit, plan_day
from geo.distance import Point
from geo.routes import great_circle_matrix, nearest_neighbour, path_length_m, visiting_order
from geo.travel import Matrix
from geo.vroom_solver import vroom_steps

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "route_optimizer.json"
UPPSALA = Point(59.8586, 17.6389)


@dataclass
class Row:
    stops: int
    strategy: str
    samples: int
    p50_ms: float
    p95_ms: float
    mean_length_km: float
    mean_gap_pct: float
    """Per instance, how much longer than the best route found (the optimum up to
    EXACT_MAX_STOPS), averaged."""
    worst_gap_pct: float


def stables(rng: random.Random, count: int) -> list[Point]:
    return [
        Point(
            UPPSALA.latitude + rng.uniform(-0.45, 0.45), UPPSALA.longitude + rng.uniform(-0.9, 0.9)
        )
        for _ in range(count)
    ]


def greedy(matrix: Matrix) -> list[int]:
    return nearest_neighbour(matrix)


def optimized(matrix: Matrix) -> list[int]:
    return [0, *(stop + 1 for stop in visiting_order(matrix))]


EXACT_MAX_STOPS = 12
ORTOOLS_BUDGET_MS = 100


def exact(matrix: Matrix) -> list[int]:
    """The shortest open path from node 0 through every other node (Held-Karp)."""
    stops = len(matrix) - 1
    full = (1 << stops) - 1
    # best[(visited, last)]: the shortest path from 0 through `visited`, ending at `last`.
    best = {(1 << (k - 1), k): (matrix[0][k], 0) for k in range(1, stops + 1)}
    for visited in range(1, full + 1):
        for last in range(1, stops + 1):
            here = best.get((visited, last))
            if here is None:
                continue
            for following in range(1, stops + 1):
                bit = 1 << (following - 1)
                if visited & bit:
                    continue
                length = here[0] + matrix[last][following]
                key = (visited | bit, following)
                if key not in best or length < best[key][0]:
                    best[key] = (length, last)
    last = min(range(1, stops + 1), key=lambda k: best[(full, k)][0])
    nodes, visited = [], full
    while last:
        nodes.append(last)
        visited, last = visited & ~(1 << (last - 1)), best[(visited, last)][1]
    return [0, *reversed(nodes)]


def _metres(matrix: Matrix) -> list[list[int]]:
    return [[round(distance) for distance in row] for row in matrix]


def with_vroom(matrix: Matrix) -> list[int]:
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=_metres(matrix))
    problem.add_vehicle(vroom.Vehicle(1, start=0))  # no end: an open path
    problem.add_job([vroom.Job(node, location=node) for node in range(1, len(matrix))])
    routes = problem.solve(exploration_level=5, nb_threads=1).routes
    return [0, *(int(node) for node in routes[routes["type"] == "job"]["location_index"])]


def with_ortools(matrix: Matrix) -> list[int]:
    metres = _metres(matrix)
    end = len(matrix)  # a node every stop reaches for nothing: the path ends anywhere
    manager = pywrapcp.RoutingIndexManager(len(matrix) + 1, 1, [0], [end])
    routing = pywrapcp.RoutingModel(manager)

    def distance(from_index: int, to_index: int) -> int:
        a, b = manager.IndexToNode(from_index), manager.IndexToNode(to_index)
        return 0 if end in (a, b) else metres[a][b]

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(distance))
    return [0, *ortools_stops(routing, manager)]


def ortools_stops(routing: Any, manager: Any) -> list[int]:
    """The nodes OR-Tools' one vehicle visits between its start and its end: guided
    local search from the cheapest arcs, stopped after ORTOOLS_BUDGET_MS."""
    search = pywrapcp.DefaultRoutingSearchParameters()
    search.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    search.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    search.time_limit.FromMilliseconds(ORTOOLS_BUDGET_MS)
    solution = routing.SolveWithParameters(search)
    nodes, index = [], solution.Value(routing.NextVar(routing.Start(0)))
    while not routing.IsEnd(index):
        nodes.append(int(manager.IndexToNode(index)))
        index = solution.Value(routing.NextVar(index))
    return nodes


_ALL_DAY = (0, 10**9)


def with_product(matrix: Matrix) -> list[int]:
    """What the product plans for a day with no clock to keep (geo.day_plan.plan_day:
    VROOM's proposal, checked on the timeline), on the metres as if seconds."""
    metres = _metres(matrix)
    visits = [Visit(node, 0, _ALL_DAY) for node in range(1, len(matrix))]
    plan = plan_day(Day(metres, _ALL_DAY, [], visits, None, end=None), vroom_steps)
    return [0, *([] if plan is None else [visit.node for visit in plan.timeline.visits()])]


STRATEGIES: dict[str, Callable[[Matrix], list[int]]] = {
    "nearest neighbour": greedy,
    "ours: 2-opt, Or-opt, kicks": optimized,
    "VROOM": with_vroom,
    "OR-Tools": with_ortools,
    "product (VROOM, checked)": with_product,
}


def measure(stops: int, samples: int, rng: random.Random) -> list[Row]:
    strategies = dict(STRATEGIES)
    if stops <= EXACT_MAX_STOPS:
        strategies["exact (Held-Karp)"] = exact
    times: dict[str, list[float]] = {name: [] for name in strategies}
    lengths: dict[str, list[float]] = {name: [] for name in strategies}
    for _ in range(samples):
        matrix = great_circle_matrix([UPPSALA, *stables(rng, stops)])
        for name, plan in strategies.items():
            started = time.perf_counter()
            nodes = plan(matrix)
            times[name].append((time.perf_counter() - started) * 1000)
            if sorted(nodes) != list(range(stops + 1)):
                raise SystemExit(f"{name} did not visit every stop once: {nodes}")
            lengths[name].append(path_length_m(matrix, nodes) / 1000)
    best = [min(found) for found in zip(*lengths.values(), strict=True)]
    rows = []
    for name in strategies:
        gaps = [100 * (km / shortest - 1) for km, shortest in zip(lengths[name], best, strict=True)]
        rows.append(
            Row(
                stops,
                name,
                samples,
                statistics.median(times[name]),
                statistics.quantiles(times[name], n=20)[-1],
                statistics.fmean(lengths[name]),
                statistics.fmean(gaps),
                max(gaps),
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| stops | strategy | p50 ms | p95 ms | mean length | vs greedy | mean gap to best"
        " | worst gap |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    greedy_km = {
        row.stops: row.mean_length_km for row in rows if row.strategy == "nearest neighbour"
    }
    for row in rows:
        lines.append(
            f"| {row.stops} | {row.strategy} | {row.p50_ms:.2f} | {row.p95_ms:.2f}"
            f" | {row.mean_length_km:.1f} km | {row.mean_length_km / greedy_km[row.stops]:.3f}"
            f" | {row.mean_gap_pct:.2f}% | {row.worst_gap_pct:.2f}% |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, nargs="+", default=[8, 12, 25, 50])
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(2027)
    warm_up = great_circle_matrix([UPPSALA, *stables(random.Random(0), 4)])
    for plan in STRATEGIES.values():  # the first call loads a solver's library: not timed
        plan(warm_up)
    rows = []
    for stops in args.stops:
        print(f"bench: {stops} stops, {args.samples} samples", file=sys.stderr, flush=True)
        rows.extend(measure(stops, args.samples, rng))

    print(table(rows))
    splice("benchmarks.md", "route-optimizer", table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine()}
    RESULTS.write_text(
        json.dumps({"machine": machine, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )
    print(f"bench: wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
