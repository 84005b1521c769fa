"""What the answer cache holds, as a test reads it from Redis."""

import asyncio

from redis.asyncio import Redis

from db.search_cache import KEY_PREFIX, STORE_WITHIN_S


async def cached_answers(redis: Redis) -> set[bytes | str]:
    """The keys of the answers cached, once those rendered so far have reached Redis:
    each waits for a lookup to go with, or STORE_WITHIN_S."""
    await asyncio.sleep(STORE_WITHIN_S * 2)
    return set(await redis.keys(KEY_PREFIX + "*"))


async def cached_pages(redis: Redis) -> int:
    return len(await cached_answers(redis))
