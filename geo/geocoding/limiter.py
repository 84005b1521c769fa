"""At most one upstream call per interval, across every process that shares a Redis.

Each caller reserves the next free slot (a time on Redis's clock, so all processes agree)
and sleeps until it. Slots are handed out one interval apart, so callers queue in order,
however many arrive at once. A caller whose slot is further away than it may wait takes
none, and is told when to come back.

Waking up is not punctual on a busy machine, so a caller that overslept its slot could
start just before the next caller starts on time. Hence a second step when a caller wakes:
it claims the start only if the previous call *started* at least an interval ago, and
otherwise sleeps the difference. The spacing then holds between actual starts.
"""

import asyncio
import logging
import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from geo.geocoding.base import GeocoderBusyError
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)

# KEYS[1]: the next free slot (ms on Redis's clock). ARGV: interval ms, longest wait ms.
# Returns the wait in ms before the caller's slot, or -(wait) when that is too long.
_RESERVE_SLOT = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0))
local wait = slot - now
if wait > tonumber(ARGV[2]) then
    return -wait
end
redis.call('SET', KEYS[1], slot + ARGV[1], 'PX', wait + ARGV[1] + 1000)
return wait
"""

# Only callers whose slot has come claim, so a claim loses to at most a few late sleepers.
_MAX_CLAIMS = 10

# KEYS[1]: when the last call started. ARGV[1]: interval ms.
# Returns 0 when the caller may start now (recorded), else the ms still to wait.
_CLAIM_START = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local wait = tonumber(redis.call('GET', KEYS[1]) or 0) + tonumber(ARGV[1]) - now
if wait > 0 then
    return wait
end
redis.call('SET', KEYS[1], now, 'PX', ARGV[1] + 1000)
return 0
"""

# KEYS[1]: the next free slot. ARGV[1]: ms from now before the next call may start.
_DEFER = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or 0) then
    redis.call('SET', KEYS[1], until_ms, 'PX', ARGV[1] + 1000)
end
return until_ms
"""


class LocalLimiter:
    """The same slot schedule in one process, for when Redis is unreachable."""

    def __init__(self, interval_s: float, max_wait_s: float) -> None:
        self._interval_s = interval_s
        self._max_wait_s = max_wait_s
        self._next_slot = 0.0

    async def wait_turn(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next_slot)
        if slot - now > self._max_wait_s:
            raise GeocoderBusyError(math.ceil(slot - now))
        self._next_slot = slot + self._interval_s
        await asyncio.sleep(slot - now)

    def defer(self, seconds: float) -> None:
        self._next_slot = max(self._next_slot, time.monotonic() + seconds)


class UpstreamLimiter:
    """The Redis-coordinated schedule, falling back to a `LocalLimiter` when Redis fails."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        interval_s: float,
        max_wait_s: float,
        local_interval_s: float,
    ) -> None:
        self._slot_key = f"{key}:next-slot"
        self._start_key = f"{key}:last-start"
        self._interval_ms = round(interval_s * 1000)
        self._max_wait_ms = round(max_wait_s * 1000)
        # Without Redis each process keeps its own schedule; `local_interval_s` should be
        # the interval times the number of processes, so that together they stay in budget.
        self._local = LocalLimiter(local_interval_s, max_wait_s)
        self._reserve = redis.register_script(_RESERVE_SLOT)
        self._claim = redis.register_script(_CLAIM_START)
        self._defer = redis.register_script(_DEFER)

    async def wait_turn(self) -> None:
        """Sleep until this caller may call the upstream; GeocoderBusyError if too long."""
        try:
            wait_ms = int(
                await self._reserve(
                    keys=[self._slot_key], args=[self._interval_ms, self._max_wait_ms]
                )
            )
            if wait_ms < 0:
                raise GeocoderBusyError(math.ceil(-wait_ms / 1000))
            await asyncio.sleep(wait_ms / 1000)
            for _ in range(_MAX_CLAIMS):
                wait_ms = await self._claim_start()
                if wait_ms == 0:
                    return
                await asyncio.sleep(wait_ms / 1000)
            raise GeocoderBusyError(1)
        except RedisError as error:
            _warn("redis unavailable (%s): upstream limiter is per process", error)
            await self._local.wait_turn()

    async def _claim_start(self) -> int:
        return int(await self._claim(keys=[self._start_key], args=[self._interval_ms]))

    async def defer(self, seconds: float) -> None:
        """Hold every caller back for `seconds` (the upstream asked us to slow down)."""
        self._local.defer(seconds)
        try:
            await self._defer(keys=[self._slot_key], args=[round(seconds * 1000)])
        except RedisError as error:
            _warn("redis unavailable (%s): upstream back-off is per process", error)
