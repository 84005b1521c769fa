"""Moving-window request counts, in Redis for every process and in memory for one.

Each (limit, client) keeps the times of its latest requests, at most as many as the limit
allows. A request is allowed unless the oldest of those is still within the window; then
it is refused until that one leaves the window, never later than one window from now.

Several limits are checked and counted in one call (one Redis round trip), in order: the
first that a request would exceed refuses it, and a refused request counts against none.
The same call can read other keys, so that a handler that reads Redis anyway counts its
request in that round trip, and carry other commands ahead of the count (cached answers
on their way to the cache).
"""

import time
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from db.redis_round_trips import packed, round_trip


class Window(NamedTuple):
    amount: int
    """Requests allowed within any `window_ms`."""
    window_ms: int


class Refusal(NamedTuple):
    by: int
    """The position of the limit that refused the request among those asked."""
    retry_after_ms: int
    """How long until that limit allows a request again."""


def wait_ms(oldest_ms: int | None, now_ms: int, limit: Window) -> int:
    """0 when a request at `now_ms` fits the limit, given when the oldest of the last
    `limit.amount` requests came (None: fewer came); else the ms until it does."""
    if oldest_ms is None:
        return 0
    return max(0, oldest_ms + limit.window_ms - now_ms)


# KEYS: one list per limit and client (request times in ms, newest first), then any keys to
# read. ARGV: each limit's amount and window in ms. Returns {0, 0, the values read} when
# every limit allows the request, else {the 1-based index of the first that refuses it,
# ms until it allows one}.
_COUNT = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local limits = #ARGV / 2
for i = 1, limits do
    local amount, span = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
    local oldest = tonumber(redis.call('LINDEX', KEYS[i], amount - 1))
    if oldest and oldest + span > now then
        return {i, oldest + span - now}
    end
end
for i = 1, limits do
    local amount, span = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
    redis.call('LPUSH', KEYS[i], now)
    redis.call('LTRIM', KEYS[i], 0, amount - 1)
    redis.call('PEXPIRE', KEYS[i], span)
end
if #KEYS > limits then
    return {0, 0, redis.call('MGET', unpack(KEYS, limits + 1))}
end
return {0, 0, {}}
"""


class RedisWindows:
    """Counts shared by every process, in one round trip of db.redis_round_trips per
    request. Raises RedisError when Redis can't be reached or doesn't answer within
    `timeout_s`."""

    def __init__(self, redis: Redis, timeout_s: float = 1.0) -> None:
        self._redis = redis
        self._sha = redis.register_script(_COUNT).sha
        self._timeout_s = timeout_s

    async def count(
        self,
        keys: Sequence[str],
        limits: Sequence[Window],
        reading: Sequence[str] = (),
        sending: Sequence[bytes] = (),
    ) -> tuple[Refusal | None, list[Any]]:
        """Count one request against each limit (`keys[i]` names its client's window),
        and read the keys `reading` in the same round trip: the refusal, if any, and the
        values read (none when refused). The commands `sending` (packed) go first in that
        round trip, their answers unread."""
        args = [number for limit in limits for number in limit]
        count = packed("EVALSHA", self._sha, len(keys) + len(reading), *keys, *reading, *args)
        *_, answer = await round_trip(self._redis, [*sending, count], self._timeout_s)
        if isinstance(answer, NoScriptError):  # Redis restarted without it, or was flushed
            await self._redis.script_load(_COUNT)
            [answer] = await round_trip(self._redis, [count], self._timeout_s)
        if isinstance(answer, Exception):
            raise answer
        refused, wait, *read = answer
        if refused:
            return Refusal(int(refused) - 1, int(wait)), []
        return None, read[0]


class LocalWindows:
    """The same counts in one process's memory, for while Redis is away."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[deque[int], int]] = {}
        """Each key's latest request times (oldest first), and when (ms) they all expire."""
        self._sweep_at = _SWEEP_AT

    def __len__(self) -> int:
        """How many windows are held."""
        return len(self._windows)

    def count(self, keys: Sequence[str], limits: Sequence[Window]) -> Refusal | None:
        now_ms = time.time_ns() // 1_000_000
        if len(self._windows) >= self._sweep_at:
            self._sweep(now_ms)
        times = [self._times(key, limit) for key, limit in zip(keys, limits, strict=True)]
        for index, (latest, limit) in enumerate(zip(times, limits, strict=True)):
            oldest = latest[0] if len(latest) == limit.amount else None
            if wait := wait_ms(oldest, now_ms, limit):
                return Refusal(index, wait)
        for key, latest, limit in zip(keys, times, limits, strict=True):
            latest.append(now_ms)
            self._windows[key] = latest, now_ms + limit.window_ms
        return None

    def _times(self, key: str, limit: Window) -> deque[int]:
        known = self._windows.get(key)
        return deque(maxlen=limit.amount) if known is None else known[0]

    def _sweep(self, now_ms: int) -> None:
        """Forget windows that have expired, so that many clients can't grow the process
        without bound (as Redis expires its keys)."""
        self._windows = {key: kept for key, kept in self._windows.items() if kept[1] > now_ms}
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._windows))


_SWEEP_AT = 10_000
