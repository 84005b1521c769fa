"""Runs the shell examples of a Markdown document against a running API, and checks that
each request answers the status written in the comment under it.

    python -m tests.support.doc_examples docs/api.md http://127.0.0.1:8000

Every ```sh block runs, in order, in one bash process (`set -euo pipefail`), with the
document's own base URL replaced by the given one. Every curl command must be followed by
a comment line that starts with its status, `# 201 …`; curl is wrapped so that it records
each status it got.
"""

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DOCUMENTED_BASE_URL = "http://127.0.0.1:8000"
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
_STATUS = re.compile(r"^#\s+(\d{3})\b")
_PRELUDE = """set -euo pipefail
curl() {
  local body status
  body=$(mktemp)
  status=$(command curl --silent --show-error --output "$body" --write-out '%{http_code}' "$@")
  echo "$status" >>"$STATUS_LOG"
  cat "$body"
  rm -f "$body"
}
"""


@dataclass(frozen=True)
class Request:
    command: str
    expected_status: int


def documented_requests(script: str) -> list[Request]:
    """Each curl command of `script` (continued lines joined) with the status under it."""
    requests: list[Request] = []
    lines = script.splitlines()
    index = 0
    while index < len(lines):
        command = lines[index]
        while command.endswith("\\") and index + 1 < len(lines):
            index += 1
            command = command[:-1] + lines[index]
        index += 1
        if re.search(r"\bcurl\s", command) and not command.lstrip().startswith("#"):
            status = _STATUS.match(lines[index]) if index < len(lines) else None
            if status is None:
                raise ValueError(f"no '# <status>' comment under: {command.strip()}")
            requests.append(Request(command.strip(), int(status.group(1))))
    return requests


def run_examples(document: Path, base_url: str) -> list[str]:
    """Run the document's examples against `base_url`; what went wrong (empty when none)."""
    script = "\n".join(_BLOCK.findall(document.read_text()))
    requests = documented_requests(script)
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        done = subprocess.run(
            ["bash", "-c", _PRELUDE + script.replace(DOCUMENTED_BASE_URL, base_url)],
            env={**os.environ, "STATUS_LOG": log.name},
            capture_output=True,
            text=True,
            timeout=120,
        )
        statuses = [int(line) for line in log.read().split()]
    problems = [
        f"{request.command}\n  documented {request.expected_status}, answered {status}"
        for request, status in zip(requests, statuses, strict=False)
        if status != request.expected_status
    ]
    if done.returncode != 0 or len(statuses) != len(requests):
        problems.append(
            f"the examples stopped after {len(statuses)} of {len(requests)} requests"
            f" (exit {done.returncode}): {done.stderr.strip()}"
        )
    return problems


def main() -> None:
    document, base_url = Path(sys.argv[1]), sys.argv[2]
    problems = run_examples(document, base_url)
    for problem in problems:
        print(problem, file=sys.stderr)
    count = len(documented_requests("\n".join(_BLOCK.findall(document.read_text()))))
    print(f"{document}: {count - len(problems)} of {count} requests answered as documented")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
