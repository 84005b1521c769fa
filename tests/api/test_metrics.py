"""GET /metrics, scraped from granian with two workers: every scrape sums them all."""

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.settings import Settings
from tests.support.live_server import live_server, settings_environment
from tests.support.search_cache import flush_redis

NEARBY = {"lat": 62.71, "lng": 20.31, "radius_km": 5}
LOGIN = {"email": "nobody@example.com", "password": "wrong-but-long-enough"}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _total(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= have
    )


async def test_every_scrape_counts_the_requests_of_every_worker(
    settings: Settings, tmp_path: Path
) -> None:
    await flush_redis(settings)
    environment = {
        **settings_environment(settings),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "RATE_LIMIT_LOGIN": "1/minute",
    }
    with live_server(environment, workers=2) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(20):
                assert (await client.get("/api/providers/nearby", params=NEARBY)).status_code == 200
            logins = [
                (await client.post("/api/auth/login", json=LOGIN)).status_code for _ in range(2)
            ]
            scrapes = [_samples((await client.get("/metrics")).text) for _ in range(4)]
    assert logins == [401, 429]
    capacity = 2 * (settings.db_pool_size + settings.db_max_overflow)  # two workers' pools
    nearby = "/api/providers/nearby"
    for samples in scrapes:
        assert _total(samples, "equinet_requests_total", path=nearby, status_code="200") == 20
        assert _total(samples, "equinet_request_duration_seconds_count", path=nearby) == 20
        assert _total(samples, "equinet_cache_lookups_total", cache="search", result="miss") == 1
        assert _total(samples, "equinet_cache_lookups_total", cache="search", result="hit") == 19
        assert _total(samples, "equinet_rate_limit_rejections_total", limit="login") == 1
        for pool in ("main", "knn"):  # the second for index-ordered searches (db.nearest)
            assert _total(samples, "equinet_db_pool_size", pool=pool) == capacity
            assert _total(samples, "equinet_db_pool_in_use", pool=pool) == 0
