"""The search cache's generations against a real Redis, and what it says when Redis is down."""

import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from db import search_cache
from db.search_cache import CachedResponse, Lookup, SearchCache
from geo.log_throttle import ThrottledWarning
from tests.support.ports import closed_port

KEY = search_cache.KEY_PREFIX + "test"


@pytest.fixture
async def redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Redis]:
    """A Redis whose generation counter has never been set, as after a flush."""
    monkeypatch.setattr(search_cache, "GENERATION_KEY", f"search:generation:{uuid.uuid4()}")
    client = Redis.from_url(redis_url)
    yield client
    await client.delete(search_cache.GENERATION_KEY, KEY)
    await client.aclose()


async def test_the_first_write_after_a_flush_makes_pages_stale(redis: Redis) -> None:
    cache = SearchCache(redis, ttl_s=60)
    before = await cache.get(KEY)
    assert before == Lookup(hit=None, generation=0)
    entry = CachedResponse(0, "application/json", b"{}")
    await cache.put(KEY, entry)
    assert await cache.get(KEY) == Lookup(hit=entry, generation=0)

    await cache.invalidate()

    assert await cache.get(KEY) == Lookup(hit=None, generation=1)


async def test_redis_down_is_a_miss_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    down = Redis.from_url(f"redis://{address}/0")
    cache = SearchCache(down, ttl_s=60)
    caplog.set_level(logging.WARNING, logger=search_cache.logger.name)

    # A fresh throttle per call, so each of them speaks.
    monkeypatch.setattr(search_cache, "_warn", ThrottledWarning(search_cache.logger))
    assert await cache.get(KEY) == Lookup(hit=None, generation=None)
    monkeypatch.setattr(search_cache, "_warn", ThrottledWarning(search_cache.logger))
    await cache.put(KEY, CachedResponse(0, "text/plain", b""))
    await cache.invalidate()
    await down.aclose()

    said = [(r.levelno, r.getMessage().partition(": ")[0]) for r in caplog.records]
    assert said == [
        (logging.WARNING, "search cache unavailable"),
        (logging.WARNING, "search cache unavailable"),
        (logging.ERROR, "could not invalidate cached searches"),
    ]
    assert all(address in r.getMessage().partition(": ")[2] for r in caplog.records)
