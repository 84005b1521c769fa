"""The mutation score per module, from the last `make mutation` run.

    python -m tests.support.mutation_report

Reads `mutmut results --all true` ("    <mutant>: <status>", a mutant named after its
module, function and number) and prints a Markdown table: mutants per module, how many the
tests killed, and how many survived. Mutants not run yet are left out of the score.
"""

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
NOT_RUN = {"not checked", "check was interrupted by user", "skipped"}


def module_of(mutant: str) -> str:
    """`db.search.x_nearby_statement__mutmut_3` is a mutant of `db/search.py`."""
    parts = mutant.split(".")
    for end in range(len(parts), 0, -1):
        path = Path(*parts[:end]).with_suffix(".py")
        if (ROOT / path).exists():
            return str(path)
    raise ValueError(f"no module for mutant {mutant}")


def statuses_by_module(results: str) -> dict[str, Counter[str]]:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in results.splitlines():
        mutant, _, status = line.strip().rpartition(": ")
        if mutant:
            by_module[module_of(mutant)][status] += 1
    return by_module


def report(by_module: dict[str, Counter[str]]) -> str:
    lines = [
        "| module | mutants | killed | survived | no test | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    totals: Counter[str] = Counter()
    for module, statuses in sorted(by_module.items()):
        run = sum(n for status, n in statuses.items() if status not in NOT_RUN)
        killed = sum(statuses[status] for status in KILLED)
        row = Counter(run=run, killed=killed, survived=statuses["survived"])
        row["no tests"] = statuses["no tests"]
        totals += row
        lines.append(_row(module, row))
    lines.append(_row("**all**", totals))
    return "\n".join(lines)


def _row(name: str, row: Counter[str]) -> str:
    score = f"{row['killed'] / row['run']:.0%}" if row["run"] else "-"
    return (
        f"| {name} | {row['run']} | {row['killed']} | {row['survived']}"
        f" | {row['no tests']} | {score} |"
    )


def main() -> None:
    mutmut = Path(sys.executable).with_name("mutmut")
    results = subprocess.run(
        [str(mutmut), "results", "--all", "true"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print(report(statuses_by_module(results)))


if __name__ == "__main__":
    main()
