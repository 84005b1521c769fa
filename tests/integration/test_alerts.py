"""The alerting rules pass their unit tests (promtool, Debian's prometheus package), and
neither they nor the Grafana dashboard name a metric that nothing exports: the app's
/metrics, or the backups' textfile (scripts/backup.sh metrics)."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.live_server import REPOSITORY

PROMETHEUS = REPOSITORY / "ops" / "prometheus"
DASHBOARD = REPOSITORY / "ops" / "grafana" / "equinet-geo.json"
METRIC = re.compile(r"\bequinet_[a-z0-9_]+")
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


def promtool(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, arguments)], capture_output=True, text=True, check=False
    )


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_every_alert_fires_when_it_should_and_only_then() -> None:
    checked = promtool("check", "rules", PROMETHEUS / "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", PROMETHEUS / "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """Each panel's query, checked by promtool as a recording rule's expression."""
    rules = [
        {"record": f"dashboard:panel_{n}", "expr": expr}
        for n, expr in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard_rules.json"  # JSON is YAML
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(rules) > 20


def _exported(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {name + suffix for suffix in HISTOGRAM_SERIES}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


@pytest.fixture
def backup_metrics() -> str:
    """The textfile the backups write, as it is now (no backup yet: their times are 0)."""
    path = subprocess.run(
        ["bash", str(REPOSITORY / "scripts" / "backup.sh"), "metrics"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(path).read_text()


def _named() -> set[str]:
    """The metrics the alerts and the dashboard use."""
    named = set(METRIC.findall((PROMETHEUS / "alerts.yml").read_text()))
    return named | {name for expr in dashboard_expressions() for name in METRIC.findall(expr)}


async def test_alerts_and_dashboard_name_only_metrics_that_are_exported(
    client: AsyncTestClient[Litestar], backup_metrics: str
) -> None:
    await client.get("/api/providers/nearby", params={"lat": 59.86, "lng": 17.64})
    scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    named = _named()
    assert named - (_exported(scraped.text) | _exported(backup_metrics)) == set()
    assert {"equinet_redis_memory_used_bytes", "equinet_pgbouncer_max_wait_seconds"} <= named
    assert "equinet_db_statement_mean_seconds" in named
