"""At most one upstream call per interval, across every process that shares a Redis.

The interval runs from the end of one call to the start of the next. A request reaches the
upstream before its answer comes back, so spacing ends from starts spaces the arrivals the
upstream sees by at least the interval too, however slow the network or the machine: no
margin for jitter is needed. One call runs at a time.

Callers queue for slots on Redis's clock, handed out one interval apart, and sleep until
theirs. A caller whose slot is further away than it may wait takes none and is told when to
come back. On waking, a caller takes the turn only when no call is running and the last one
ended an interval ago; otherwise it waits for that. A call that took a while pushes the
queue back by as long, so the slots stay close to when turns will really come.
"""

import asyncio
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from geo.geocoding.base import GeocoderBusyError
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)

_NOW_MS = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
"""

# KEYS[1]: the next free slot (ms on Redis's clock). ARGV: interval ms, longest wait ms.
# Returns the wait in ms before the caller's slot, or -(wait) when that is too long.
_RESERVE_SLOT = (
    _NOW_MS
    + """
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or 0))
local wait = slot - now
if wait > tonumber(ARGV[2]) then
    return -wait
end
redis.call('SET', KEYS[1], slot + ARGV[1], 'PX', wait + ARGV[1] + 1000)
return wait
"""
)

# KEYS: the running call's token, the earliest next start. ARGV: token, longest hold ms.
# Returns 0 when the turn is the caller's (recorded), -1 while a call runs, else the ms
# still to wait.
_TAKE_TURN = (
    _NOW_MS
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return -1
end
local wait = tonumber(redis.call('GET', KEYS[2]) or 0) - now
if wait > 0 then
    return wait
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
"""
)

# KEYS: the running call's token, the earliest next start, the next free slot.
# ARGV: token, interval ms, how long the call took in ms.
_END_TURN = (
    _NOW_MS
    + """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
end
local next_start = now + tonumber(ARGV[2])
if next_start > tonumber(redis.call('GET', KEYS[2]) or 0) then
    redis.call('SET', KEYS[2], next_start, 'PX', ARGV[2] + 1000)
end
local slot = tonumber(redis.call('GET', KEYS[3]) or 0)
if slot > now then
    slot = slot + tonumber(ARGV[3])
    redis.call('SET', KEYS[3], slot, 'PX', slot - now + ARGV[2] + 1000)
end
return 0
"""
)

# KEYS: the next free slot, the earliest next start. ARGV[1]: ms before any call may start.
_DEFER = (
    _NOW_MS
    + """
local until_ms = now + tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
    if until_ms > tonumber(redis.call('GET', key) or 0) then
        redis.call('SET', key, until_ms, 'PX', ARGV[1] + 1000)
    end
end
return until_ms
"""
)


class LocalLimiter:
    """The same schedule in one process, for when Redis is unreachable."""

    def __init__(self, interval_s: float, max_wait_s: float) -> None:
        self._interval_s = interval_s
        self._max_wait_s = max_wait_s
        self._next_slot = 0.0
        self._next_start = 0.0
        self._running = asyncio.Lock()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this caller's turn; it lasts as long as the block."""
        now = time.monotonic()
        slot = max(now, self._next_slot)
        if slot - now > self._max_wait_s:
            raise GeocoderBusyError(math.ceil(slot - now))
        self._next_slot = slot + self._interval_s
        await asyncio.sleep(slot - now)
        async with self._running:
            await asyncio.sleep(self._next_start - time.monotonic())
            started = time.monotonic()
            try:
                yield
            finally:
                ended = time.monotonic()
                self._next_start = max(self._next_start, ended + self._interval_s)
                if self._next_slot > ended:
                    self._next_slot += ended - started

    def defer(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        self._next_slot = max(self._next_slot, until)
        self._next_start = max(self._next_start, until)


class UpstreamLimiter:
    """The Redis-coordinated schedule, falling back to a `LocalLimiter` when Redis fails."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        interval_s: float,
        max_wait_s: float,
        longest_call_s: float,
        local_interval_s: float,
        poll_s: float = 0.02,
    ) -> None:
        self._slot_key = f"{key}:next-slot"
        self._running_key = f"{key}:running"
        self._next_start_key = f"{key}:next-start"
        self._interval_ms = round(interval_s * 1000)
        self._max_wait_s = max_wait_s
        # A caller that dies mid-call holds the turn no longer than the longest call.
        self._hold_ms = round(longest_call_s * 1000) + 1000
        self._poll_s = poll_s
        # Without Redis each process keeps its own schedule; `local_interval_s` should be
        # the interval times the number of processes, so that together they stay in budget.
        self._local = LocalLimiter(local_interval_s, max_wait_s)
        self._reserve = redis.register_script(_RESERVE_SLOT)
        self._take = redis.register_script(_TAKE_TURN)
        self._end = redis.register_script(_END_TURN)
        self._defer = redis.register_script(_DEFER)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this caller's turn at the upstream (GeocoderBusyError if too long);
        the turn lasts as long as the block."""
        token = secrets.token_hex(8)
        try:
            await self._wait_turn(token)
        except RedisError as error:
            _warn("redis unavailable (%s): upstream limiter is per process", error)
            async with self._local.turn():
                yield
            return
        started = time.monotonic()
        try:
            yield
        finally:
            await self._end_turn(token, time.monotonic() - started)

    async def _wait_turn(self, token: str) -> None:
        deadline = time.monotonic() + self._max_wait_s
        max_wait_ms = round(self._max_wait_s * 1000)
        wait_ms = int(
            await self._reserve(keys=[self._slot_key], args=[self._interval_ms, max_wait_ms])
        )
        if wait_ms < 0:
            raise GeocoderBusyError(math.ceil(-wait_ms / 1000))
        await asyncio.sleep(wait_ms / 1000)
        # The slot was reckoned before the calls ahead ran, and they may run late.
        while (wait_ms := await self._take_turn(token)) != 0:
            if time.monotonic() > deadline:
                raise GeocoderBusyError(math.ceil(self._interval_ms / 1000))
            await asyncio.sleep(self._poll_s if wait_ms < 0 else wait_ms / 1000)

    async def _take_turn(self, token: str) -> int:
        keys = [self._running_key, self._next_start_key]
        return int(await self._take(keys=keys, args=[token, self._hold_ms]))

    async def _end_turn(self, token: str, took_s: float) -> None:
        keys = [self._running_key, self._next_start_key, self._slot_key]
        try:
            await self._end(keys=keys, args=[token, self._interval_ms, round(took_s * 1000)])
        except RedisError as error:
            _warn("redis unavailable (%s): the turn ends when its hold expires", error)

    async def defer(self, seconds: float) -> None:
        """Hold every caller back for `seconds` (the upstream asked us to slow down)."""
        self._local.defer(seconds)
        try:
            await self._defer(
                keys=[self._slot_key, self._next_start_key], args=[round(seconds * 1000)]
            )
        except RedisError as error:
            _warn("redis unavailable (%s): upstream back-off is per process", error)
