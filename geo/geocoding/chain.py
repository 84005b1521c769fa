"""The geocoder the API uses: Redis cache → paced, de-duplicated upstream → gazetteer.

Without an upstream the offline gazetteer answers everything. With one:
- a cached answer (place or "no such place") is returned without touching the upstream;
- on a miss, one caller per query (single-flight) waits for an upstream turn (limiter),
  asks, and caches the answer; concurrent callers of the same query take the cached one;
- when the upstream fails, the gazetteer answers instead, and nothing long-lived is cached;
- when Redis is down, the upstream is still paced (per process) and de-duplicated (per
  process), nothing is cached, and a warning says so.
"""

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from geo.geocoding.base import (
    Geocoded,
    Geocoder,
    GeocoderPolicy,
    GeocoderUnavailableError,
    Source,
    UpstreamThrottledError,
    normalize_query,
    query_digest,
)
from geo.geocoding.cache import CacheEntry, GeocodeCache
from geo.geocoding.limiter import UpstreamLimiter
from geo.geocoding.single_flight import LocalSingleFlight, RedisSingleFlight
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)

LIMITER_KEY = "geocode:upstream"
LOCK_PREFIX = "geocode:lock:"


class GeocoderChain:
    def __init__(
        self,
        redis: Redis,
        gazetteer: Geocoder,
        upstream: Geocoder | None,
        policy: GeocoderPolicy,
        report: Callable[[str], None] = lambda _: None,
        cache_redis: Redis | None = None,
    ) -> None:
        """`redis` keeps the upstream's schedule and the single-flight locks, which must
        not be evicted; `cache_redis` (`redis` when None) the answers, which may be.
        `report` hears cache_hit, cache_miss, queue_joined, queue_left and
        upstream_<ok|failed|throttled> (metrics)."""
        self._report = report
        self._gazetteer = gazetteer
        self._upstream = upstream
        self._timeout_s = policy.timeout_s
        self._cache = GeocodeCache(cache_redis or redis, policy)
        self._limiter = UpstreamLimiter(
            redis,
            LIMITER_KEY,
            interval_s=policy.interval_s,
            max_wait_s=policy.max_wait_s,
            longest_call_s=policy.timeout_s,
            local_interval_s=policy.interval_s * policy.processes,
        )
        # The lock outlives the longest a leader can take (its wait for a turn, then the
        # upstream's timeout), so it expires only when the leader is gone.
        self._flight = RedisSingleFlight(
            redis,
            lock_ttl_s=policy.max_wait_s + policy.timeout_s + 5,
            max_wait_s=policy.max_wait_s + policy.timeout_s,
            poll_s=policy.poll_s,
        )
        self._local_flight = LocalSingleFlight[CacheEntry]()
        self._warn = ThrottledWarning(logger)

    async def geocode(self, query: str) -> Geocoded | None:
        """The best match for a typed query, or None when the place is unknown.

        Raises GeocoderBusyError when no upstream turn is free soon enough, and
        GeocoderUnavailableError when the upstream failed and the gazetteer has no match.
        """
        normalized = normalize_query(query)
        if self._upstream is None:
            return await self._from_gazetteer(normalized)
        try:
            entry, source = await self._cached_or_upstream(normalized)
            self._report("cache_hit" if source is Source.cache else "cache_miss")
        except RedisError as error:
            self._warn("redis unavailable (%s): geocoding without cache", error)
            entry = await self._local_flight.run(normalized, lambda: self._ask_upstream(normalized))
            source = Source.upstream
        if entry.upstream_failed:
            return await self._fallback(normalized)
        return None if entry.place is None else Geocoded(entry.place, source)

    async def _cached_or_upstream(self, normalized: str) -> tuple[CacheEntry, Source]:
        key = self._cache.key(normalized)

        async def lead() -> CacheEntry:
            entry = await self._ask_upstream(normalized)
            try:
                await self._cache.put(key, entry)
            except RedisError as error:
                self._warn("redis unavailable (%s): answer not cached", error)
            return entry

        entry, led = await self._flight.run(
            LOCK_PREFIX + query_digest(normalized), lambda: self._cache.get(key), lead
        )
        return entry, Source.upstream if led else Source.cache

    async def _ask_upstream(self, normalized: str) -> CacheEntry:
        """The upstream's answer, in the turn the limiter gives; the time spent waiting
        for it is reported as being in the queue (queue_joined, queue_left)."""
        waiting = True
        self._report("queue_joined")
        try:
            async with self._limiter.turn():
                waiting = False
                self._report("queue_left")
                return await self._call_upstream(normalized)
        finally:
            if waiting:  # no turn came (busy, or cancelled)
                self._report("queue_left")

    async def _call_upstream(self, normalized: str) -> CacheEntry:
        assert self._upstream is not None
        try:
            async with asyncio.timeout(self._timeout_s):
                entry = CacheEntry(await self._upstream.geocode(normalized))
            self._report("upstream_ok")
            return entry
        except UpstreamThrottledError as error:
            self._report("upstream_throttled")
            logger.warning("upstream geocoder throttled us: backing off %s s", error.retry_after_s)
            await self._limiter.defer(error.retry_after_s)
        except GeocoderUnavailableError as error:
            self._report("upstream_failed")
            logger.warning("upstream geocoder failed: %s", error)
        except TimeoutError:
            self._report("upstream_failed")
            logger.warning("upstream geocoder failed: no answer in %s s", self._timeout_s)
        return CacheEntry(None, upstream_failed=True)

    async def _fallback(self, normalized: str) -> Geocoded:
        answer = await self._from_gazetteer(normalized)
        if answer is None:
            raise GeocoderUnavailableError("the upstream geocoder failed; no offline match")
        return answer

    async def _from_gazetteer(self, normalized: str) -> Geocoded | None:
        place = await self._gazetteer.geocode(normalized)
        return None if place is None else Geocoded(place, Source.gazetteer)
