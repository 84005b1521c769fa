"""Route optimizer time and route length per stop count, against its nearest-neighbour start.

Stops are stables scattered over the Uppsala region (up to ~100 km apart), a fresh set
per sample; both strategies plan the same sets in turn, so machine noise hits them alike.
The table gives p50/p95 time, and how much shorter the optimized route is than the
greedy one it starts from.

    python -m bench.route_optimizer [--stops 10 25 50] [--samples 30]
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

from geo.distance import Point
from geo.routes import Matrix, great_circle_matrix, nearest_neighbour, path_length_m, visiting_order

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


STRATEGIES: dict[str, Callable[[Matrix], list[int]]] = {
    "nearest neighbour": greedy,
    "2-opt + Or-opt": optimized,
}


def measure(stops: int, samples: int, rng: random.Random) -> list[Row]:
    times: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    lengths: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    for _ in range(samples):
        matrix = great_circle_matrix([UPPSALA, *stables(rng, stops)])
        for name, plan in STRATEGIES.items():
            started = time.perf_counter()
            nodes = plan(matrix)
            times[name].append((time.perf_counter() - started) * 1000)
            lengths[name].append(path_length_m(matrix, nodes) / 1000)
    return [
        Row(
            stops,
            name,
            samples,
            statistics.median(times[name]),
            statistics.quantiles(times[name], n=20)[-1],
            statistics.fmean(lengths[name]),
        )
        for name in STRATEGIES
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(2027)
    rows = []
    for stops in args.stops:
        print(f"bench: {stops} stops, {args.samples} samples", file=sys.stderr, flush=True)
        rows.extend(measure(stops, args.samples, rng))

    print(f"{'stops':>5}  {'strategy':<18} {'p50 ms':>8} {'p95 ms':>8} {'km':>8} {'vs greedy':>9}")
    greedy_km = {
        row.stops: row.mean_length_km for row in rows if row.strategy == "nearest neighbour"
    }
    for row in rows:
        ratio = row.mean_length_km / greedy_km[row.stops]
        print(
            f"{row.stops:>5}  {row.strategy:<18} {row.p50_ms:>8.2f} {row.p95_ms:>8.2f}"
            f" {row.mean_length_km:>8.1f} {ratio:>9.3f}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine()}
    RESULTS.write_text(
        json.dumps({"machine": machine, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )
    print(f"bench: wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
