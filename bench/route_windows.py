"""Day routes with time windows: what the field's solvers make of them, and why the
product's tour optimizer is not enough.

One provider's day (08:00-18:00, home at both ends) and 10, 25 or 50 orders, each with a
visit of 30-90 minutes and a window of arrival of two to four hours, generated per run in
the spirit of Solomon's classes (don't download data): R, stables scattered over the
Uppsala region; C, stables in five clusters of a few kilometres; RC, half of each. A window
opens no earlier than the order can be reached from home and closes in time to be back.

Each plan is checked by one evaluator written here (drive at ROUTE_SPEED_KMH, wait when
early, late is infeasible, back home by the end of the day): orders visited, hours
driven, whether it holds. The solvers: VROOM (pyvroom, exploration level 5, one thread)
and OR-Tools (time dimension with waiting, optional orders, guided local search for
100 ms). The product's optimizer orders the stops by distance alone and knows no clock:
its tour through every order is shown as it would be driven, feasible or not.

    python -m bench.route_windows [--orders 10 25 50] [--samples 10]
"""

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import vroom
from ortools.constraint_solver import pywrapcp

from bench.reporting import splice, write_results
from bench.route_optimizer import UPPSALA, ortools_stops
from geo.day_plan import Day, Plan, Visit, plan_day
from geo.distance import Point
from geo.routes import great_circle_matrix, visiting_order
from geo.vroom_solver import vroom_steps

DAY_S = 10 * 3600
"""08:00 to 18:00, in seconds from 08:00."""
SPEED_KMH = 60.0
CLASSES = ("R", "C", "RC")


@dataclass(frozen=True)
class Instance:
    drive_s: list[list[int]]
    """Between home (0) and the stables (1..n), in whole seconds."""
    service_s: list[int]
    """Per node; home's is 0."""
    windows: list[tuple[int, int]]
    """Earliest and latest arrival per node, seconds from 08:00; home's is the day."""


def _stables(rng: random.Random, count: int, kind: str) -> list[Point]:
    def scattered() -> Point:
        return Point(
            UPPSALA.latitude + rng.uniform(-0.3, 0.3), UPPSALA.longitude + rng.uniform(-0.6, 0.6)
        )

    centres = [scattered() for _ in range(5)]

    def clustered() -> Point:
        centre = rng.choice(centres)
        return Point(rng.gauss(centre.latitude, 0.03), rng.gauss(centre.longitude, 0.06))

    if kind == "R":
        return [scattered() for _ in range(count)]
    if kind == "C":
        return [clustered() for _ in range(count)]
    return [scattered() if n % 2 else clustered() for n in range(count)]


def generate(rng: random.Random, count: int, kind: str) -> Instance:
    points = [UPPSALA, *_stables(rng, count, kind)]
    drive_s = [
        [round(metres / 1000 / SPEED_KMH * 3600) for metres in row]
        for row in great_circle_matrix(points)
    ]
    service_s, windows = [0], [(0, DAY_S)]
    for node in range(1, count + 1):
        service = rng.choice([30, 45, 60, 90]) * 60
        width = rng.randint(2, 4) * 3600
        earliest = drive_s[0][node]
        latest_start = DAY_S - service - drive_s[node][0] - width
        opens = rng.randint(earliest, max(earliest, latest_start))
        service_s.append(service)
        windows.append((opens, min(opens + width, DAY_S - service - drive_s[node][0])))
    return Instance(drive_s, service_s, windows)


@dataclass(frozen=True)
class Outcome:
    visited: int
    drive_h: float
    feasible: bool


def evaluate(instance: Instance, nodes: list[int]) -> Outcome:
    """Drive the plan (stables in order, from and back home): wait when early; late at a
    stable or home after 18:00 is infeasible."""
    clock, driven, here, feasible = 0, 0, 0, True
    for node in nodes:
        clock += instance.drive_s[here][node]
        driven += instance.drive_s[here][node]
        opens, closes = instance.windows[node]
        feasible &= clock <= closes
        clock = max(clock, opens) + instance.service_s[node]
        here = node
    clock += instance.drive_s[here][0]
    driven += instance.drive_s[here][0]
    return Outcome(len(nodes), driven / 3600, feasible and clock <= DAY_S)


def with_vroom(instance: Instance) -> list[int]:
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=instance.drive_s)
    problem.add_vehicle(vroom.Vehicle(1, start=0, end=0, time_window=vroom.TimeWindow(0, DAY_S)))
    problem.add_job(
        [
            vroom.Job(
                node,
                location=node,
                default_service=instance.service_s[node],
                time_windows=[vroom.TimeWindow(*instance.windows[node])],
            )
            for node in range(1, len(instance.drive_s))
        ]
    )
    routes = problem.solve(exploration_level=5, nb_threads=1).routes
    return [int(node) for node in routes[routes["type"] == "job"]["location_index"]]


def with_ortools(instance: Instance) -> list[int]:
    count = len(instance.drive_s)
    manager = pywrapcp.RoutingIndexManager(count, 1, 0)
    routing = pywrapcp.RoutingModel(manager)

    def node(index: int) -> int:
        return int(manager.IndexToNode(index))

    def drive(from_index: int, to_index: int) -> int:
        return instance.drive_s[node(from_index)][node(to_index)]

    def drive_and_visit(from_index: int, to_index: int) -> int:
        return instance.service_s[node(from_index)] + drive(from_index, to_index)

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(drive))
    clock = routing.RegisterTransitCallback(drive_and_visit)
    routing.AddDimension(clock, DAY_S, DAY_S, False, "time")  # waiting up to the whole day
    time_dimension = routing.GetDimensionOrDie("time")
    for stable in range(1, count):
        index = manager.NodeToIndex(stable)
        time_dimension.CumulVar(index).SetRange(*instance.windows[stable])
        routing.AddDisjunction([index], 10 * DAY_S)  # may be left out
    return ortools_stops(routing, manager)


def _day(instance: Instance) -> Day:
    """The instance as the product's planner sees a day: no break, no commitments."""
    visits = [
        Visit(node, instance.service_s[node], instance.windows[node])
        for node in range(1, len(instance.drive_s))
    ]
    return Day(instance.drive_s, (0, DAY_S), [], visits, None, end=0)


def _planned_nodes(plan: Plan | None) -> list[int]:
    return [] if plan is None else [visit.node for visit in plan.timeline.visits()]


def with_product(instance: Instance) -> list[int]:
    """What the product plans: VROOM's proposal checked on the timeline, cheapest
    insertion as the fallback and the cross-check (geo.day_plan.plan_day)."""
    return _planned_nodes(plan_day(_day(instance), vroom_steps))


def with_insertion(instance: Instance) -> list[int]:
    """The product's own planner alone: cheapest feasible insertion on the timeline."""
    return _planned_nodes(plan_day(_day(instance)))


def with_tour_alone(instance: Instance) -> list[int]:
    """The product's optimizer on the drives, every order in, no clock (a round trip)."""
    order = visiting_order(instance.drive_s, return_to_start=True)
    return [stop + 1 for stop in order]


SOLVERS: dict[str, Callable[[Instance], list[int]]] = {
    "VROOM": with_vroom,
    "OR-Tools": with_ortools,
    "product (VROOM, checked)": with_product,
    "ours: insertion alone": with_insertion,
    "ours: tour without the clock": with_tour_alone,
}
FIELD = ("VROOM", "OR-Tools", "product (VROOM, checked)")
"""The best of these, per instance, is what each solver is measured against."""


@dataclass
class Row:
    kind: str
    orders: int
    solver: str
    samples: int
    p50_ms: float
    p95_ms: float
    visited_pct: float
    """Of the orders, on average."""
    drive_h: float
    infeasible: int
    short_of_best: int
    """Instances where it kept fewer orders than the best feasible plan of FIELD."""
    above_best_pct: float
    """Mean of how much longer it drove than that plan, where it kept as many."""


def _gaps(found: list[Outcome], best: list[Outcome]) -> tuple[int, float]:
    short = sum(o.visited < b.visited or not o.feasible for o, b in zip(found, best, strict=True))
    above = [
        100 * (o.drive_h / b.drive_h - 1) if b.drive_h else 0.0
        for o, b in zip(found, best, strict=True)
        if o.feasible and o.visited == b.visited
    ]
    return short, statistics.fmean(above) if above else float("nan")


def measure(kind: str, orders: int, samples: int, rng: random.Random) -> list[Row]:
    runs: dict[str, list[tuple[float, Outcome]]] = {name: [] for name in SOLVERS}
    for _ in range(samples):
        instance = generate(rng, orders, kind)
        for name, solve in SOLVERS.items():
            started = time.perf_counter()
            nodes = solve(instance)
            elapsed = (time.perf_counter() - started) * 1000
            if len(set(nodes)) != len(nodes) or not set(nodes) <= set(range(1, orders + 1)):
                raise SystemExit(f"{name} visited a stable twice or one that isn't there")
            runs[name].append((elapsed, evaluate(instance, nodes)))
    best = [
        min(
            (runs[name][sample][1] for name in FIELD if runs[name][sample][1].feasible),
            key=lambda outcome: (-outcome.visited, outcome.drive_h),
        )
        for sample in range(samples)
    ]
    return [
        Row(
            kind,
            orders,
            name,
            samples,
            statistics.median(ms for ms, _ in found),
            statistics.quantiles([ms for ms, _ in found], n=20)[-1],
            100 * statistics.fmean(outcome.visited / orders for _, outcome in found),
            statistics.fmean(outcome.drive_h for _, outcome in found),
            sum(not outcome.feasible for _, outcome in found),
            *_gaps([outcome for _, outcome in found], best),
        )
        for name, found in runs.items()
    ]


def table(rows: list[Row]) -> str:
    lines = [
        "| class | orders | solver | p50 ms | p95 ms | orders visited | hours driven"
        " | infeasible plans | fewer orders than the best | drive above the best |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.kind} | {r.orders} | {r.solver} | {r.p50_ms:.1f} | {r.p95_ms:.1f}"
            f" | {r.visited_pct:.0f}% | {r.drive_h:.2f} | {r.infeasible} of {r.samples}"
            f" | {r.short_of_best} | {_percent(r.above_best_pct)} |"
        )
    return "\n".join(lines)


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(2030)
    for solve in SOLVERS.values():  # the first call loads a solver's library: not timed
        solve(generate(random.Random(0), 4, "R"))
    rows = []
    for kind in CLASSES:
        for orders in args.orders:
            print(f"bench: {kind} {orders} orders", file=sys.stderr, flush=True)
            rows += measure(kind, orders, args.samples, rng)
    print(table(rows))
    write_results("route_windows", {"rows": [asdict(r) for r in rows]})
    splice("benchmarks.md", "route-windows", table(rows))


if __name__ == "__main__":
    main()
