"""Caches may be evicted, state must not: the cache Redis (REDIS_CACHE_URL) evicts its
least recently used answers when full, and the state Redis (REDIS_URL) keeps every
rate-limit window, generation and write position, whatever the caches do."""

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.settings import RateLimits, Settings
from db.search_cache import SearchCache
from tests.support.bookings import Client, open_provider
from tests.support.redis_server import project_redis

CACHE_MAXMEMORY = "8mb"
FILLER_BYTES = 64 * 1024
SEARCH = {"lat": 59.8586, "lng": 17.6389, "radius_km": 50, "limit": 20}


@pytest.fixture
def redis_dirs(tmp_path: Path) -> tuple[Path, Path]:
    state, cache = tmp_path / "state", tmp_path / "cache"
    state.mkdir()
    cache.mkdir()
    return state, cache


@pytest.fixture
async def apart(redis_dirs: tuple[Path, Path]) -> AsyncIterator[tuple[Redis, Redis]]:
    """A state Redis and a small cache Redis, each on the project's configuration."""
    state_dir, cache_dir = redis_dirs
    async with (
        project_redis(state_dir) as state_url,
        project_redis(cache_dir, "redis-cache.conf", "--maxmemory", CACHE_MAXMEMORY) as cache_url,
        Redis.from_url(state_url) as state,
        Redis.from_url(cache_url) as cache,
    ):
        yield state, cache


async def _state(redis: Redis) -> dict[str, object]:
    """Every key of the state Redis with its value."""
    values: dict[str, object] = {}
    for key in await redis.keys("*"):
        kind = await redis.type(key)
        value = await (redis.lrange(key, 0, -1) if kind == b"list" else redis.get(key))
        values[key.decode() if isinstance(key, bytes) else key] = value
    return values


async def test_a_full_cache_evicts_answers_and_keeps_every_piece_of_state(
    settings: Settings, apart: tuple[Redis, Redis], db_session: AsyncSession
) -> None:
    state, cache = apart
    kwargs = state.connection_pool.connection_kwargs
    served = msgspec.structs.replace(
        settings,
        redis_url=f"redis://127.0.0.1:{kwargs['port']}/0",
        redis_cache_url=f"redis://127.0.0.1:{cache.connection_pool.connection_kwargs['port']}/0",
        rate_limits=RateLimits(client="100000/minute", everyone="100000/minute"),
        database_replica_url="",
    )
    async with AsyncTestClient(app=create_app(served)) as client:
        await open_provider(client)  # a provider write: generations bumped
        await SearchCache(state, 60, records_positions=True).wrote(db_session)  # a position
        for n in range(20):  # answers cached, requests counted
            answer = await client.get(
                "/api/providers/nearby", params={**SEARCH, "lat": 59 + n / 50}
            )
            assert answer.status_code == 200
        before = await _state(state)
        await _fill(cache)
        after = await _state(state)
        still = await _searches_served(client)
    info = await cache.info()
    assert info["evicted_keys"] > 0
    # Redis evicts before each write, so it can end one value over its limit
    assert info["used_memory"] <= await _maxmemory(cache) + FILLER_BYTES
    assert any(key.startswith("ratelimit:") for key in before)
    assert any(key.startswith("search:generation") for key in before)
    assert "search:written" in before
    for key, value in before.items():  # none forgotten, none changed but by the requests since
        assert key in after, key
        if not key.startswith("ratelimit:"):
            assert after[key] == value, key
    assert still == [200, 200]


async def _fill(cache: Redis) -> None:
    """Three times the cache's memory in entries that look like cached answers."""
    filler = b"x" * FILLER_BYTES
    count = 3 * await _maxmemory(cache) // FILLER_BYTES
    async with cache.pipeline(transaction=False) as pipe:
        for n in range(count):
            pipe.set(f"search:page:filler-{n}", filler, ex=300)
        await pipe.execute()


async def _maxmemory(redis: Redis) -> int:
    return int(str((await redis.config_get("maxmemory"))["maxmemory"]))


async def _searches_served(client: Client) -> list[int]:
    """The same new search twice: rendered, then from the cache again."""
    params = {**SEARCH, "lat": 61.5}
    first = await client.get("/api/providers/nearby", params=params)
    second = await client.get("/api/providers/nearby", params=params)
    assert first.content == second.content
    return [first.status_code, second.status_code]


async def test_the_stack_runs_state_with_noeviction_and_caches_with_lru(
    redis_url: str, redis_cache_url: str
) -> None:
    async with Redis.from_url(redis_url) as state, Redis.from_url(redis_cache_url) as cache:
        state_policy = (await state.config_get("maxmemory-policy"))["maxmemory-policy"]
        cache_policy = (await cache.config_get("maxmemory-policy"))["maxmemory-policy"]
        assert await _maxmemory(state) > 0
        assert await _maxmemory(cache) > 0
    assert (state_policy, cache_policy) == ("noeviction", "allkeys-lru")
