"""Geocoding answers in Redis, keyed by a digest of the normalized query.

Keys never contain the query itself (addresses are personal data). Misses are cached
too, for a shorter time, so a typo typed again does not cost another upstream turn; a
failed upstream call is remembered briefly so that its waiting followers, and the next
few callers, fall back at once instead of queueing for a service that is down.
"""

from typing import cast

import msgspec
from redis.asyncio import Redis

from geo.geocoding.base import GeocoderPolicy, Place, query_digest

KEY_PREFIX = "geocode:"


class CacheEntry(msgspec.Struct, frozen=True):
    place: Place | None
    """None when the upstream knows no such place (or failed, see below)."""
    upstream_failed: bool = False


class GeocodeCache:
    def __init__(self, redis: Redis, policy: GeocoderPolicy) -> None:
        self._redis = redis
        self._policy = policy
        self._decoder = msgspec.msgpack.Decoder(CacheEntry)

    @staticmethod
    def key(normalized_query: str) -> str:
        return KEY_PREFIX + query_digest(normalized_query)

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self._redis.get(key)
        return None if raw is None else self._decoder.decode(cast(bytes, raw))

    async def put(self, key: str, entry: CacheEntry) -> None:
        await self._redis.set(key, msgspec.msgpack.encode(entry), ex=self._ttl_s(entry))

    def _ttl_s(self, entry: CacheEntry) -> int:
        if entry.upstream_failed:
            return self._policy.failure_ttl_s
        return self._policy.miss_ttl_s if entry.place is None else self._policy.hit_ttl_s
