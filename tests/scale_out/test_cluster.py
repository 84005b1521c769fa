"""make serve-cluster: nginx in front of two API instances, which count a client's requests
together (through Redis), know the client by the address nginx saw, and answer GETs while
one of them is killed."""

import os
import signal
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from redis import Redis

from app.settings import Settings
from tests.support.live_server import settings_environment
from tests.support.nginx_cluster import Cluster, serving_cluster

CLIENT_LIMIT = 12


@pytest.fixture(scope="module")
def cluster(settings: Settings) -> Iterator[Cluster]:
    environment = {**settings_environment(settings), "RATE_LIMIT_CLIENT": f"{CLIENT_LIMIT}/minute"}
    with serving_cluster(environment) as serving:
        yield serving


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
