"""Search responses cached in Redis, made stale at once by any provider write.

Every entry records the generation it was computed in; a provider write bumps the
generation (after its commit), and an entry from an older generation is a miss. So no
entry is deleted by pattern, and a search that read the database before a write can
never store a page that outlives it: it stores the generation it saw before reading.
Entries hold public search responses only.
"""

import logging
from typing import cast

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from geo.keys import digest
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)

GENERATION_KEY = "search:generation"
KEY_PREFIX = "search:page:"


class CachedResponse(msgspec.Struct, array_like=True, frozen=True):
    generation: int
    media_type: str
    body: bytes


class Lookup(msgspec.Struct, frozen=True):
    hit: CachedResponse | None
    generation: int | None
    """The generation to store a fresh response under; None when Redis is unreachable."""


class SearchCache:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._decoder = msgspec.msgpack.Decoder(CachedResponse)

    @staticmethod
    def key(query: msgspec.Struct) -> str:
        """The entry of a search, named by its whole query value (see geo.keys)."""
        return KEY_PREFIX + digest(query).hex()

    async def get(self, key: str) -> Lookup:
        try:
            generation, raw = await self._redis.mget(GENERATION_KEY, key)
        except RedisError as error:
            _warn("search cache unavailable: %s", error)
            return Lookup(hit=None, generation=None)
        current = int(generation or 0)
        entry = None if raw is None else self._decoder.decode(cast(bytes, raw))
        if entry is not None and entry.generation == current:
            return Lookup(hit=entry, generation=current)
        return Lookup(hit=None, generation=current)

    async def put(self, key: str, entry: CachedResponse) -> None:
        try:
            await self._redis.set(key, msgspec.msgpack.encode(entry), ex=self._ttl_s)
        except RedisError as error:
            _warn("search cache unavailable: %s", error)

    async def invalidate(self) -> None:
        """Make every cached search stale. Call after the provider write has committed."""
        try:
            await self._redis.incr(GENERATION_KEY)
        except RedisError as error:
            # Entries then live until their TTL: say so loudly.
            logger.error("could not invalidate cached searches: %s", error)
