"""What every benchmark's results carry: the machine they came from, written as JSON under
bench/results/ next to the printed table."""

import json
import os
import platform
import re
from pathlib import Path
from typing import Any

from bench.databases import log

RESULTS = Path(__file__).resolve().parent / "results"
DOCS = RESULTS.parent.parent / "docs"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write_results(name: str, results: dict[str, Any], *, quick: bool = False) -> None:
    """`results` with the machine, as bench/results/<name>.json (bench/results/quick/ for
    a quick run, which is not kept)."""
    folder = RESULTS / "quick" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **results}, indent=2) + "\n")
    log(f"wrote {path.relative_to(RESULTS.parent.parent)}")


def splice(document: str, section: str, text: str) -> None:
    """Put `text` into docs/<document> between its `<!-- <section>:start -->` and
    `<!-- <section>:end -->` markers, so that the docs show the last run."""
    path = DOCS / document
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    docs = path.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(docs):
        raise SystemExit(f"{document} has no {start} … {end} section")
    path.write_text(pattern.sub(lambda _: f"{start}\n{text.rstrip()}\n{end}", docs))
    log(f"wrote the {section} section of docs/{document}")
