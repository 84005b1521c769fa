"""What the answer cache holds, as a test reads it from Redis."""

import asyncio

from redis.asyncio import Redis

from app.settings import Settings
from db.search_cache import KEY_PREFIX, STORE_WITHIN_S


async def cached_answers(redis: Redis) -> set[bytes | str]:
    """The keys of the answers cached, once those rendered so far have reached Redis:
    each waits for a lookup to go with, or STORE_WITHIN_S."""
    await asyncio.sleep(STORE_WITHIN_S * 2)
    return set(await redis.keys(KEY_PREFIX + "*"))


async def cached_pages(redis: Redis) -> int:
    return len(await cached_answers(redis))


async def flush_redis(settings: Settings) -> None:
    """Empty the app's Redis databases: the state's with the cache's, never the first
    alone (answers cached under generations that an emptied state starts again from 0
    would be current again)."""
    for url in filter(None, (settings.redis_url, settings.redis_cache_url)):
        async with Redis.from_url(url) as redis:
            await redis.flushdb()
