"""Which nearby strategies a deployment offers, and how the costly ones are held back."""

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.search.costly import CostlySearches
from app.settings import RateLimits, SearchLimits, Settings
from geo.strategies import SearchStrategy
from tests.support.search_cache import flush_redis
from tests.support.suite import UNLIMITED

Client = AsyncTestClient[Litestar]
UPPSALA = {"lat": 59.8586, "lng": 17.6389, "radius_km": 20, "limit": 5}


@asynccontextmanager
async def serving(settings: Settings, redis_url: str, **changes: object) -> AsyncIterator[Client]:
    """The app with these settings changed, and an empty Redis (no cached searches)."""
    await flush_redis(settings)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, **changes))) as c:
        yield c


@pytest.fixture
def costly_searches(monkeypatch: pytest.MonkeyPatch) -> list[CostlySearches]:
    """The costly-search slots of each app made from here on (a test holds one)."""
    made: list[CostlySearches] = []
    make = CostlySearches.__init__

    def kept(self: CostlySearches, at_once: int) -> None:
        make(self, at_once)
        made.append(self)

    monkeypatch.setattr(CostlySearches, "__init__", kept)
    return made


async def test_a_strategy_the_deployment_does_not_offer_is_a_400_naming_those_it_does(
    settings: Settings, redis_url: str
) -> None:
    async with serving(settings, redis_url, search=SearchLimits()) as client:
        naive = await client.get("/api/providers/nearby", params={**UPPSALA, "strategy": "naive"})
        bbox = await client.get("/api/providers/nearby", params={**UPPSALA, "strategy": "bbox"})
        schema = (await client.get("/schema/openapi.json")).json()
    assert naive.status_code == 400
    assert naive.json()["detail"] == "strategy naive is not offered here; use one of gist, bbox"
    assert naive.json()["extra"] == [
        {"key": "strategy", "source": "query", "message": "not offered"}
    ]
    assert bbox.status_code == 200
    [strategy] = [
        p
        for p in schema["paths"]["/api/providers/nearby"]["get"]["parameters"]
        if p["name"] == "strategy"
    ]
    assert strategy["description"] == "one of gist, bbox; gist when not given"


def test_gist_is_always_offered_and_unknown_strategies_are_refused() -> None:
    with pytest.raises(ValueError, match="must include gist"):
        SearchLimits(strategies="bbox,naive")
    with pytest.raises(ValueError, match="rtree"):
        SearchLimits(strategies="gist,rtree")
    assert SearchLimits(strategies=" gist , naive").offered_strategies() == (
        SearchStrategy.gist,
        SearchStrategy.naive,
    )


async def test_costly_searches_have_a_tight_limit_per_client_that_gist_does_not_share(
    settings: Settings, redis_url: str
) -> None:
    limits = msgspec.structs.replace(UNLIMITED, costly_search="2/minute")
    async with serving(settings, redis_url, rate_limits=limits) as client:
        answers = [
            await client.get("/api/providers/nearby", params={**UPPSALA, "strategy": s})
            for s in ("bbox", "naive", "gist", "naive")
        ]
        gist = await client.get("/api/providers/nearby", params=UPPSALA)
    refused = answers[-1]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert gist.status_code == 200
    assert RateLimits().costly_search == "20/minute"


@pytest.fixture
async def one_at_once(
    settings: Settings, redis_url: str, costly_searches: list[CostlySearches]
) -> AsyncIterator[tuple[Client, CostlySearches]]:
    """The app running one costly search at a time, and its slot (a test holds it)."""
    search = msgspec.structs.replace(settings.search, costly_at_once=1)
    async with serving(settings, redis_url, search=search) as client:
        yield client, costly_searches[-1]


async def test_past_the_costly_searches_a_process_runs_at_once_comes_503_and_gist_goes_on(
    one_at_once: tuple[Client, CostlySearches],
) -> None:
    client, slots = one_at_once
    async with slots.running(SearchStrategy.naive):
        busy = await client.get("/api/providers/nearby", params={**UPPSALA, "strategy": "bbox"})
        gist = await client.get("/api/providers/nearby", params=UPPSALA)
    after = await client.get("/api/providers/nearby", params={**UPPSALA, "strategy": "bbox"})
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert busy.json()["detail"] == "too many bbox searches at once; retry shortly, or use gist"
    assert (gist.status_code, after.status_code) == (200, 200)
    assert after.json()["items"] == gist.json()["items"]


@contextmanager
def log_records(*names: str) -> Iterator[list[logging.LogRecord]]:
    """The records these loggers write meanwhile, whatever handlers they have."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def test_handled_503s_are_one_warning_without_a_traceback_not_an_error_each(
    one_at_once: tuple[Client, CostlySearches],
) -> None:
    """A 503 is an answer the API chose: a client making many must not flood the log."""
    client, slots = one_at_once
    with log_records("litestar", "app") as records:
        async with slots.running(SearchStrategy.naive):
            answers = [
                await client.get(
                    "/api/providers/nearby", params={**UPPSALA, "strategy": "bbox", "limit": n}
                )
                for n in range(1, 6)
            ]
    assert [answer.status_code for answer in answers] == [503] * 5
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.WARNING, None)]
    assert "too many bbox searches at once" in records[0].getMessage()
