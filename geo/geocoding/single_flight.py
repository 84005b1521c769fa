"""One computation per key at a time, across processes (Redis) or within one (asyncio).

The Redis variant is a lock with an expiry plus polling followers: the leader computes and
stores the result where `read` finds it, the followers poll `read` until it does. If the
leader dies, its lock expires and a follower takes over, so nobody waits forever.
"""

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from geo.geocoding.base import GeocoderBusyError

T = TypeVar("T")

# Delete the lock only if it is still ours: after an expiry it may belong to a new leader.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisSingleFlight:
    def __init__(self, redis: Redis, lock_ttl_s: float, max_wait_s: float, poll_s: float) -> None:
        self._redis = redis
        self._lock_ttl_ms = round(lock_ttl_s * 1000)
        self._max_wait_s = max_wait_s
        self._poll_s = poll_s
        self._release = redis.register_script(_RELEASE)

    async def run(
        self,
        lock_key: str,
        read: Callable[[], Awaitable[T | None]],
        produce: Callable[[], Awaitable[T]],
    ) -> tuple[T, bool]:
        """`read()` if it has a result, else `produce()` once for all callers.

        Returns the result and whether this caller produced it. Redis errors from the
        first read or lock attempt propagate, so that the caller can fall back.
        """
        deadline = time.monotonic() + self._max_wait_s
        while True:
            result = await read()
            if result is not None:
                return result, False
            token = secrets.token_hex(16)
            if await self._redis.set(lock_key, token, nx=True, px=self._lock_ttl_ms):
                try:
                    # A leader may have stored its result and let go between our read
                    # and our lock: read once more before producing it again.
                    result = await read()
                    return (result, False) if result is not None else (await produce(), True)
                finally:
                    await self._unlock(lock_key, token)
            if time.monotonic() >= deadline:
                # The leader is still at it and will likely finish soon.
                raise GeocoderBusyError(retry_after_s=1)
            await asyncio.sleep(self._poll_s)

    async def _unlock(self, lock_key: str, token: str) -> None:
        with contextlib.suppress(RedisError):  # if not, the lock expires by itself
            await self._release(keys=[lock_key], args=[token])


class LocalSingleFlight(Generic[T]):
    """The in-process variant: followers await the leader's future."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[T]] = {}

    async def run(self, key: str, produce: Callable[[], Awaitable[T]]) -> T:
        if key in self._running:
            return await asyncio.shield(self._running[key])
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            result = await produce()
        except Exception as error:
            future.set_exception(error)
            future.exception()  # there may be no follower: mark the exception as retrieved
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._running[key]
