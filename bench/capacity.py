"""A capacity table from measured figures: how many API cores and instances, read
replicas and primary cores a peak of public searches and bookings needs
(`python -m bench.capacity`; docs/scaling.md shows its output).

It reads the last full run of `make bench` (bench/results/throughput.json and
contention.json) and splits the measured CPU cost per request into its parts:

- a search inside PostgreSQL: the raw asyncpg floor's cores / requests per second;
- the API's share of an uncached search: the API's cost minus the database's, both measured
  on the same cores (so it also carries the load generator's and Redis's share, and errs high);
- a cached search: the API's cost of a hit;
- a booking attempt on the primary: the exclusion constraint's cost in the contention race
  (its slowest race), a plain INSERT: the API's booking also reads the service and the
  hours and writes a notification, so read it as a lower bound.

Each resource is planned at `--utilisation` of its cores (60% unless told), leaving room for
peaks, a replica's replay and a lost instance.
"""

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Costs:
    """CPU milliseconds per request, by part."""

    search_in_db: float
    search_in_api: float
    cached_search: float
    booking_in_db: float

    @classmethod
    def measured(cls, throughput: dict[str, Any], contention: dict[str, Any]) -> "Costs":
        cores = throughput["machine"]["cpus"]

        def rps(group: str, what: str, tool: str) -> float:
            [row] = [
                r
                for r in throughput["rows"]
                if (r["group"], r["what"], r["tool"]) == (group, what, tool)
            ]
            return float(row["rps"])

        search_in_db = cores * 1000 / rps("nearby", "floor", "asyncpg")
        uncached = cores * 1000 / rps("nearby", "API uncached", "wrk")
        cached = cores * 1000 / rps("nearby", "API cached", "wrk")
        races = contention["outcomes"]
        attempts_per_s = min(
            race["per_second"] for race in races if race["design"] == "exclusion constraint"
        )
        return cls(search_in_db, uncached - search_in_db, cached, cores * 1000 / attempts_per_s)


@dataclass(frozen=True)
class Plan:
    searches_per_s: int
    hit_ratio: float
    bookings_per_s: int
    api_cores: float
    api_instances: int
    replica_cores: float
    replicas: int
    primary_cores: float


def plan(
    costs: Costs,
    searches_per_s: int,
    hit_ratio: float,
    bookings_per_s: int,
    utilisation: float,
    cores_per_machine: int,
) -> Plan:
    misses = searches_per_s * (1 - hit_ratio)
    hits = searches_per_s * hit_ratio
    api_cores = (misses * costs.search_in_api + hits * costs.cached_search) / 1000 / utilisation
    replica_cores = misses * costs.search_in_db / 1000 / utilisation
    primary_cores = bookings_per_s * costs.booking_in_db / 1000 / utilisation
    return Plan(
        searches_per_s,
        hit_ratio,
        bookings_per_s,
        api_cores,
        max(2, math.ceil(api_cores / cores_per_machine)),  # two, so that one may fail
        replica_cores,
        math.ceil(replica_cores / cores_per_machine),
        primary_cores,
    )


def table(costs: Costs, plans: list[Plan], cores_per_machine: int) -> str:
    lines = [
        f"CPU ms per request, measured: search in PostgreSQL {costs.search_in_db:.2f}, "
        f"the API's share of an uncached search {costs.search_in_api:.2f}, a cached search "
        f"{costs.cached_search:.2f}, a booking attempt in PostgreSQL {costs.booking_in_db:.2f}. "
        f"Machines of {cores_per_machine} cores.",
        "",
        "| searches/s | cache hits | bookings/s | API cores | API instances "
        "| replica cores | replicas | primary cores |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in plans:
        lines.append(
            f"| {p.searches_per_s:,} | {p.hit_ratio:.0%} | {p.bookings_per_s:,} "
            f"| {p.api_cores:.1f} | {p.api_instances} | {p.replica_cores:.1f} | {p.replicas} "
            f"| {p.primary_cores:.2f} |"
        )
    return "\n".join(lines)


def _measured_costs() -> Costs:
    throughput = json.loads((RESULTS / "throughput.json").read_text())
    contention = json.loads((RESULTS / "contention.json").read_text())
    return Costs.measured(throughput, contention)


def tables(
    searches: list[int],
    hit_ratios: list[float],
    bookings_per_search: float = 0.01,
    utilisation: float = 0.6,
    cores_per_machine: int = 8,
) -> str:
    costs = _measured_costs()
    plans = [
        plan(
            costs,
            peak,
            hit_ratio,
            math.ceil(peak * bookings_per_search),
            utilisation,
            cores_per_machine,
        )
        for peak in searches
        for hit_ratio in hit_ratios
    ]
    return table(costs, plans, cores_per_machine)


def default_table() -> str:
    """The table docs/scaling.md shows (bench/report.py writes it there)."""
    return tables([500, 2000, 10000, 50000], [0.5, 0.9])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", default="500,2000,10000,50000", help="peaks, per second")
    parser.add_argument("--hit-ratios", default="0.5,0.9", help="cache hit ratios")
    parser.add_argument("--bookings-per-search", type=float, default=0.01)
    parser.add_argument("--utilisation", type=float, default=0.6)
    parser.add_argument("--cores-per-machine", type=int, default=8)
    arguments = parser.parse_args()
    print(
        tables(
            [int(peak) for peak in arguments.searches.split(",")],
            [float(ratio) for ratio in arguments.hit_ratios.split(",")],
            arguments.bookings_per_search,
            arguments.utilisation,
            arguments.cores_per_machine,
        )
    )


if __name__ == "__main__":
    main()
