"""Load scenarios against the API under granian: loopback only, bounded in time.

    python -m bench.load_scenarios normal|peak|spike|abuse|exports

Starts the API (two workers, behind a pretend proxy on 127.0.0.1 so that each simulated
client counts as itself) on a free loopback port, against DATABASE_URL (the demo data
`make run` seeds) and a local Nominatim stand-in (geocoding goes through the API's cache
and pacer, as deployed), and runs locust headless with the scenario's users for its time. Prints
p50/p95/p99, throughput and errors per endpoint, the 5xx count and cache hit ratios from
the API's /metrics, and writes bench/results/load_<scenario>.json.

`exports` is the export storm: a job worker runs beside the API, and the normal scenario
runs first as the baseline, then again with ten users who each export a few thousand
bookings over and over (polling every 2 s, then downloading). It reports the search
endpoints' p95 in the storm as a ratio of the baseline's in the same run, the 5xx count,
and whether every export finished.
"""

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from bench.load.places import PLACES
from db.account_tokens import account_token_key, verification_token
from db.databases import asyncpg_dsn, direct_url
from geo.geocoding.base import normalize_query
from geo.geocoding.cache import GeocodeCache
from tests.support.live_server import live_server
from tests.support.nominatim_stub import running_stub
from tests.support.worker import job_worker

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LOCUSTFILE = ROOT / "bench" / "load" / "locustfile.py"
EVERYDAY = ["MapVisitor", "Customer", "Planner"]
ABUSERS = ["NaiveFlooder", "Forger", "LoginStuffer", "CacheBuster"]
EXPORTERS = 10  # bench/load/locustfile.py Exporter.fixed_count
EXPORTED_BOOKINGS = 2000
"""Bookings each exporter has: the seeded customer's, handed over before the run."""
SEED_CUSTOMER = "seed-customer@example.invalid"


@dataclass(frozen=True)
class Scenario:
    users: int
    spawn_rate: float
    seconds: int
    classes: list[str]


SCENARIOS = {
    "normal": Scenario(50, 10, 60, EVERYDAY),
    "peak": Scenario(200, 20, 60, EVERYDAY),
    "spike": Scenario(500, 500 / 60, 75, EVERYDAY),  # 0 to 500 users in 60 s
    "abuse": Scenario(50 + 2 * len(ABUSERS), 10, 60, EVERYDAY + ABUSERS),
    "exports": Scenario(50 + EXPORTERS, 10, 60, [*EVERYDAY, "Exporter"]),
}
SEARCHES = ("nearby gist", "in-view", "clusters")


@dataclass(frozen=True)
class Endpoint:
    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    per_s: float


def _endpoints(stats_csv: Path) -> list[Endpoint]:
    with stats_csv.open() as rows:
        return [
            Endpoint(
                row["Name"],
                int(row["Request Count"]),
                int(row["Failure Count"]),
                float(row["50%"] or 0),
                float(row["95%"] or 0),
                float(row["99%"] or 0),
                round(float(row["Requests/s"] or 0), 1),
            )
            for row in csv.DictReader(rows)
        ]


def _from_metrics(url: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "equinet_requests_total" and sample.labels["status_code"] >= "500":
                totals["server_errors"] = totals.get("server_errors", 0) + sample.value
                key = f"status_{sample.labels['status_code']}"
                totals[key] = totals.get(key, 0) + sample.value
            if sample.name == "equinet_cache_lookups_total":
                key = f"{sample.labels['cache']}_{sample.labels['result']}"
                totals[key] = totals.get(key, 0) + sample.value
    return totals


def _hit_ratio(totals: dict[str, float], cache: str) -> float | None:
    hits, misses = totals.get(f"{cache}_hit", 0), totals.get(f"{cache}_miss", 0)
    return round(hits / (hits + misses), 3) if hits + misses else None


# Signed-in users are returning users: their accounts and tokens are made before the clock
# starts (a token lasts an hour, so a visit rarely begins with a login). Each is made from
# an address of its own, as a proxy in front of the API would pass it on.
SIGNED_IN_SHARE = 0.1  # of the users, for each of the two signed-in roles (weights 1 of 10)
SPARE_ACCOUNTS = 8  # for the abuse scenario's cache busters and rounding
SIGN_UPS_AT_ONCE = 4
PASSWORD = "load test horse 1"


async def _sign_up(client: httpx.AsyncClient, role: str, address: str) -> dict[str, str]:
    headers = {"X-Forwarded-For": address}
    body = {"email": f"load-{uuid.uuid4().hex[:12]}@example.com", "password": PASSWORD}
    registered = await client.post(
        "/api/auth/register", json={**body, "role": role}, headers=headers
    )
    registered.raise_for_status()
    if role == "customer":  # customers book: their addresses are verified first
        key = account_token_key(os.environ["SECRET_KEY"])
        token = verification_token(key, registered.json()["id"], body["email"])
        verified = await client.post("/api/auth/verify", json={"token": token}, headers=headers)
        verified.raise_for_status()
    login = await client.post("/api/auth/login", json=body, headers=headers)
    login.raise_for_status()
    token = login.json()["access_token"]
    return {"role": role, "address": address, "token": token, "id": str(registered.json()["id"])}


async def _returning_users(url: str, users: int) -> list[dict[str, str]]:
    """Accounts with tokens for the scenario's signed-in users, made concurrently."""
    per_role = int(users * SIGNED_IN_SHARE) + SPARE_ACCOUNTS
    first = random.randrange(1 << 24)
    addresses = (
        f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(first, first + 2 * per_role)
    )
    roles = ["customer", "provider"] * per_role
    limit = asyncio.Semaphore(SIGN_UPS_AT_ONCE)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(role: str, address: str) -> dict[str, str]:
            async with limit:
                return await _sign_up(client, role, address)

        return list(await asyncio.gather(*map(one, roles, addresses)))


def _forget_geocoded(queries: Iterable[str]) -> None:
    redis = Redis.from_url(os.environ["REDIS_URL"])
    try:
        redis.delete(*(GeocodeCache.key(normalize_query(query)) for query in queries))
    finally:
        redis.close()


def _locust(url: str, scenario: Scenario, accounts: Path, prefix: Path) -> list[Endpoint]:
    command = [
        str(Path(sys.executable).with_name("locust")),
        *("-f", str(LOCUSTFILE), "--headless", "--host", url),
        *("-u", str(scenario.users), "-r", str(scenario.spawn_rate)),
        *("-t", f"{scenario.seconds}s", "--stop-timeout", "5"),
        *("--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"),
        *scenario.classes,
    ]
    subprocess.run(
        command,
        check=False,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "LOAD_ACCOUNTS": str(accounts), "PYTHONPATH": str(ROOT)},
    )
    return _endpoints(Path(f"{prefix}_stats.csv"))


async def _exporters(url: str) -> list[dict[str, str]]:
    """Customers with EXPORTED_BOOKINGS bookings each, taken over from the seeded customer."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        accounts = [
            await _sign_up(client, "customer", f"10.255.0.{n + 1}") for n in range(EXPORTERS)
        ]
    connection = await asyncpg.connect(asyncpg_dsn(direct_url() or os.environ["DATABASE_URL"]))
    try:
        for account in accounts:
            await connection.execute(
                "UPDATE bookings SET customer_id = $1 WHERE id IN (SELECT id FROM bookings"
                " WHERE customer_id = (SELECT id FROM users WHERE email = $3)"
                " ORDER BY random() LIMIT $2)",
                int(account["id"]),
                EXPORTED_BOOKINGS,
                SEED_CUSTOMER,
            )
    finally:
        await connection.close()
    return [account | {"role": "exporter"} for account in accounts]


async def _exports_finished(user_ids: list[int], wait_s: float = 180) -> dict[str, int]:
    """Once the exporters' exports are all done or failed (or the wait is over): how many
    ended each way."""
    connection = await asyncpg.connect(asyncpg_dsn(direct_url() or os.environ["DATABASE_URL"]))
    counts: dict[str, int] = {}
    try:
        for _ in range(int(wait_s * 2)):
            counts = dict(
                await connection.fetch(  # type: ignore[arg-type]
                    "SELECT status::text, count(*) FROM exports WHERE user_id = ANY($1)"
                    " GROUP BY status",
                    user_ids,
                )
            )
            if not counts.get("queued") and not counts.get("running"):
                break
            await asyncio.sleep(0.5)
    finally:
        await connection.close()
    return counts


def _p95(endpoints: list[Endpoint], names: Iterable[str]) -> dict[str, float]:
    return {e.name: e.p95_ms for e in endpoints if e.name in names}


def run(name: str) -> dict[str, object]:
    scenario = SCENARIOS[name]
    with tempfile.TemporaryDirectory() as scratch, running_stub() as nominatim:
        # Geocoding as deployed: Nominatim (a local stand-in) behind the cache and the pacer.
        # Each run starts with none of them cached, so that runs compare.
        nominatim.places = {normalize_query(q): p for q, p in PLACES.items() if p is not None}
        _forget_geocoded(PLACES)
        environment = {
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "PROCESSES": "2",
            "PROMETHEUS_MULTIPROC_DIR": scratch,
            "GEOCODER": "nominatim",
            "NOMINATIM_URL": nominatim.url,
            "NOMINATIM_USER_AGENT": "equinet-geo load scenarios (loopback only)",
            # Exporters export many times a minute; the storm is about capacity.
            "RATE_LIMIT_EXPORT": "100000/hour",
        }
        with live_server(environment, workers=2) as url, job_worker(environment):
            users = asyncio.run(_returning_users(url, scenario.users))
            baseline: list[Endpoint] = []
            exporters: list[dict[str, str]] = []
            if name == "exports":
                exporters = asyncio.run(_exporters(url))
                accounts = Path(scratch) / "baseline.json"
                accounts.write_text(json.dumps(users))
                print(f"{name}: the normal scenario first, as the baseline")
                baseline = _locust(url, SCENARIOS["normal"], accounts, Path(scratch) / "normal")
            accounts = Path(scratch) / "accounts.json"
            accounts.write_text(json.dumps(users + exporters))
            print(f"{name}: {scenario.users} users for {scenario.seconds} s against {url}")
            endpoints = _locust(url, scenario, accounts, Path(scratch) / "locust")
            exported = asyncio.run(_exports_finished([int(a["id"]) for a in exporters]))
            totals = _from_metrics(url)
    result: dict[str, object] = {
        "scenario": name,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "settings": asdict(scenario),
        "endpoints": [asdict(endpoint) for endpoint in endpoints],
        "server_errors": int(totals.get("server_errors", 0)),
        "server_errors_by_status": {
            key.removeprefix("status_"): int(value)
            for key, value in sorted(totals.items())
            if key.startswith("status_")
        },
        "search_cache_hit_ratio": _hit_ratio(totals, "search"),
        "geocode_cache_hit_ratio": _hit_ratio(totals, "geocode"),
    }
    if name == "exports":
        normal, storm = _p95(baseline, SEARCHES), _p95(endpoints, SEARCHES)
        result["baseline_endpoints"] = [asdict(endpoint) for endpoint in baseline]
        result["search_p95_ratio"] = {
            search: round(storm[search] / normal[search], 2)
            for search in SEARCHES
            if normal.get(search) and search in storm
        }
        result["exports"] = exported
    return result


def _print(result: dict[str, object]) -> None:
    columns = ("requests", "errors", "p50", "p95", "p99", "req/s")
    print(f"{'endpoint':28}", *(f"{column:>8}" for column in columns))
    for row in result["endpoints"]:  # type: ignore[attr-defined]
        print(
            f"{row['name']:28} {row['requests']:>8} {row['failures']:>8} {row['p50_ms']:>8.0f}"
            f" {row['p95_ms']:>8.0f} {row['p99_ms']:>8.0f} {row['per_s']:>8}"
        )
    print(
        f"5xx: {result['server_errors']} {result['server_errors_by_status']},"
        f" search cache hits: {result['search_cache_hit_ratio']},"
        f" geocode cache hits: {result['geocode_cache_hit_ratio']}"
    )
    if "exports" in result:
        print(
            f"search p95 in the storm / normal: {result['search_p95_ratio']},"
            f" exports by how they ended: {result['exports']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    name = parser.parse_args().scenario
    result = run(name)
    _print(result)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"load_{name}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
