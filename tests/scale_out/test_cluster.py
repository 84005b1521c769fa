"""make serve-cluster: nginx in front of two API instances, which count a client's requests
together (through Redis), know the client by the address nginx saw, and answer GETs while
one of them is killed."""

import os
import shutil
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from redis import Redis

from app.settings import Settings
from tests.support.live_server import REPOSITORY, settings_environment, wait_until_healthy
from tests.support.ports import server_ports

CLIENT_LIMIT = 12


class Cluster(NamedTuple):
    url: str
    instance_ports: list[int]
    directory: Path


@pytest.fixture(scope="module")
def cluster(settings: Settings) -> Iterator[Cluster]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (DEVSTACK_NGINX=1 installs it; make test does)")
    port = server_ports(3)  # nginx's, then the two instances'
    instance_port = port + 1
    directory = REPOSITORY / ".devstack" / f"cluster-test-{uuid.uuid4().hex[:8]}"
    environment = {
        **os.environ,
        **settings_environment(settings),
        "RATE_LIMIT_CLIENT": f"{CLIENT_LIMIT}/minute",
        "INSTANCES": "2",
        "PORT": str(port),
        "INSTANCE_PORT": str(instance_port),
        "CLUSTER_DIR": str(directory),
    }
    process = subprocess.Popen(
        ["bash", "scripts/serve_cluster.sh"],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    instances = [instance_port, instance_port + 1]
    try:
        # Each instance first, nginx last: a request nginx sends to an instance still
        # starting marks it failed for fail_timeout (2 s), and the tests need both.
        for serving in [*(f"http://127.0.0.1:{p}" for p in instances), url]:
            wait_until_healthy(serving, process)
        yield Cluster(url, instances, directory)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


def _nearby(http: httpx.Client, n: int, **headers: str) -> int:
    params = {"lat": 63.5, "lng": 19.0 + n / 100, "radius_km": 5}
    return http.get("/api/providers/nearby", params=params, headers=headers).status_code


def _served_by(port: int) -> float:
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("equinet_requests_total{") and 'path="/api/providers/nearby"' in line
    )


def test_a_clients_limit_holds_across_instances_whatever_it_says_it_is(
    cluster: Cluster, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    redis.delete(*redis.keys("ratelimit:client:*") or ["none"])  # other tests' requests
    redis.close()
    with httpx.Client(base_url=cluster.url) as http:
        statuses = Counter(
            _nearby(http, n, **{"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(CLIENT_LIMIT + 4)
        )
    assert statuses == {200: CLIENT_LIMIT, 429: 4}
    assert all(_served_by(port) > 0 for port in cluster.instance_ports)


def test_gets_are_answered_while_an_instance_is_killed(cluster: Cluster, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    redis.delete(*redis.keys("ratelimit:client:*") or ["none"])
    redis.close()
    group = int((cluster.directory / "instance-1.pid").read_text())
    with httpx.Client(base_url=cluster.url) as http:
        os.killpg(group, signal.SIGKILL)
        statuses = Counter(http.get("/health").status_code for _ in range(CLIENT_LIMIT))
    assert statuses == {200: CLIENT_LIMIT}
