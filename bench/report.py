"""The benchmarks' report: PNG plots and a Markdown summary from bench/results/*.json,
the summary also written into docs/benchmarks.md between its markers, so that the docs
show the last full run, and the capacity table those figures give into docs/scaling.md.

    python -m bench.report
"""

import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench import capacity, contention, strategies, throughput
from bench.reporting import RESULTS, splice

TARGETS = {  # ratio: the least it should be
    "health / bare Litestar": 0.7,
    "nearby uncached / floor": 0.8,
    "in-view uncached / floor": 0.8,
    "available orders uncached / floor": 0.8,
    # On two shared cores an app can't beat 1/(1/floor + 1/health) (bench.throughput).
    "nearby uncached / ceiling": 0.6,
    "in-view uncached / ceiling": 0.6,
    "available orders uncached / ceiling": 0.6,
    "nearby cached / health": 0.5,
    "in-view cached / health": 0.5,
}
STRATEGY_STYLE = {"gist": "tab:green", "bbox": "tab:orange", "naive": "tab:red"}


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def latency_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """p50 (solid) and p95 (dashed) at the API boundary against providers, log axes: one
    panel per distribution and radius."""
    distributions = sorted({r["distribution"] for r in rows})
    radii = sorted({r["radius_km"] for r in rows})
    figure = Figure(figsize=(4 * len(radii), 3.4 * len(distributions)))
    axes = figure.subplots(len(distributions), len(radii), squeeze=False, sharey=True)
    for (i, distribution), (j, radius) in (
        (d, r) for d in enumerate(distributions) for r in enumerate(radii)
    ):
        ax = axes[i][j]
        for strategy, colour in STRATEGY_STYLE.items():
            mine = sorted(
                (
                    r
                    for r in rows
                    if (r["distribution"], r["radius_km"], r["strategy"])
                    == (distribution, radius, strategy)
                ),
                key=lambda r: r["providers"],
            )
            sizes = [r["providers"] for r in mine]
            ax.plot(sizes, [r["p50_ms"] for r in mine], "o-", color=colour, label=f"{strategy} p50")
            ax.plot(
                sizes, [r["p95_ms"] for r in mine], "x--", color=colour, label=f"{strategy} p95"
            )
        ax.set(xscale="log", yscale="log", title=f"{distribution}, {radius} km")
        ax.set_xlabel("providers")
        ax.grid(True, which="both", alpha=0.3)
    for row in axes:
        row[0].set_ylabel("ms per search (API)")
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def rows_read_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Rows the scans read per search against providers, 50 km (or the middle radius)."""
    radii = sorted({r["radius_km"] for r in rows})
    radius = 50 if 50 in radii else radii[len(radii) // 2]
    figure = Figure(figsize=(6, 4))
    ax = figure.subplots()
    for strategy, colour in STRATEGY_STYLE.items():
        for distribution, marker in (("clustered", "o-"), ("uniform", "s:")):
            mine = sorted(
                (
                    r
                    for r in rows
                    if (r["strategy"], r["distribution"], r["radius_km"])
                    == (strategy, distribution, radius)
                ),
                key=lambda r: r["providers"],
            )
            ax.plot(
                [r["providers"] for r in mine],
                [max(r["rows_read"], 1) for r in mine],
                marker,
                color=colour,
                label=f"{strategy}, {distribution}",
            )
    ax.set(xscale="log", yscale="log", xlabel="providers", ylabel="rows read per search")
    ax.set_title(f"Rows read inside PostgreSQL, {radius} km, limit 100")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def ratios_plot(ratios: dict[str, float], path: Path) -> None:
    """Each measured ratio as a bar, its target as a mark."""
    names = [name for name in TARGETS if name in ratios]
    figure = Figure(figsize=(7, 3.6))
    ax = figure.subplots()
    bars = ax.barh(names, [ratios[n] for n in names], color="tab:blue")
    ax.scatter([TARGETS[n] for n in names], names, marker="|", s=400, color="black", label="target")
    ax.bar_label(bars, fmt="%.2f", padding=3)
    ax.set_xlim(0, 1.1)
    ax.invert_yaxis()
    ax.set_title("Throughput ratios (same run, 1M providers)")
    ax.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def _machine(machine: dict[str, Any]) -> str:
    return f"{machine['cpus']} CPUs, {machine['platform']}, Python {machine['python']}"


def strategies_section(result: dict[str, Any]) -> list[str]:
    rows = [strategies.Row(**r) for r in result["rows"]]
    return [
        "### Strategies",
        "",
        f"Measured on {_machine(result['machine'])}.",
        "",
        strategies.table(rows),
        "",
        "![latency per strategy](../bench/results/strategies_latency.png)",
        "![rows read per strategy](../bench/results/strategies_rows_read.png)",
    ]


def throughput_section(result: dict[str, Any]) -> list[str]:
    ratios = result["ratios"]
    verdicts = [
        f"| {name} | {ratios[name]:.2f} | ≥ {target} | "
        f"{'met' if ratios[name] >= target else f'missed by {target - ratios[name]:.2f}'} |"
        for name, target in TARGETS.items()
        if name in ratios
    ]
    return [
        "### Throughput against the floor",
        "",
        f"Measured on {_machine(result['machine'])}: {result['providers']} providers,"
        f" {result['concurrency']} concurrent clients, {result['seconds']} s per run.",
        "",
        throughput.table(result),
        "",
        "| target | measured | wanted | verdict |",
        "|---|---:|---:|---|",
        *verdicts,
        "",
        "![throughput ratios](../bench/results/throughput_ratios.png)",
    ]


def contention_section(result: dict[str, Any]) -> list[str]:
    from bench.contention import Outcome

    outcomes = [
        Outcome(**{k: v for k, v in o.items() if k != "per_second"}) for o in result["outcomes"]
    ]
    return [
        "### Booking contention",
        "",
        f"Measured on {_machine(result['machine'])}.",
        "",
        contention.table(outcomes),
    ]


def main() -> None:
    sections: list[str] = []
    if compared := _load("strategies"):
        latency_plot(compared["rows"], RESULTS / "strategies_latency.png")
        rows_read_plot(compared["rows"], RESULTS / "strategies_rows_read.png")
        sections += [*strategies_section(compared), ""]
    if measured := _load("throughput"):
        ratios_plot(measured["ratios"], RESULTS / "throughput_ratios.png")
        sections += [*throughput_section(measured), ""]
    if raced := _load("contention"):
        sections += [*contention_section(raced), ""]
    summary = "\n".join(sections).rstrip() + "\n"
    (RESULTS / "summary.md").write_text(summary)
    splice("benchmarks.md", "bench-summary", summary)
    if measured and raced:
        splice("scaling.md", "capacity", capacity.default_table())


if __name__ == "__main__":
    main()
