"""Rate limits for the endpoints that are expensive or attractive to abuse.

Moving windows in Redis (the `limits` library's atomic Lua scripts), shared by every
process. When Redis is down each process keeps its own windows in memory, allowing its
share of each limit (the limit divided by PROCESSES), so that together they stay within
it and the API keeps serving. A client is the socket's peer address,
or the signed-in user for writes that need an account.
"""

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import msgspec
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)


class RateLimits(msgspec.Struct, frozen=True):
    """Limits in the `limits` notation (env: RATE_LIMIT_<NAME>)."""

    login: str = "5/15 minutes"
    register: str = "3/hour"
    geocode: str = "30/minute"
    costly_search: str = "20/minute"
    """Nearby searches by a strategy other than gist."""
    booking: str = "10/hour"
    """Per user, not per address."""
    provider_write: str = "10/minute"
    """Per user: changes to profiles, services and hours (each can end cached searches)."""

    def items(self) -> dict[str, RateLimitItem]:
        return {name: parse(getattr(self, name)) for name in self.__struct_fields__}

    def __post_init__(self) -> None:
        self.items()  # a ValueError names the malformed limit


def _share(item: RateLimitItem, processes: int) -> RateLimitItem:
    """One process's share of a limit: together, the processes stay within it."""
    return type(item)(max(1, item.amount // processes), item.multiples, item.namespace)


class RateLimiter:
    def __init__(self, redis_url: str, limits: RateLimits, processes: int = 1) -> None:
        self._items = limits.items()
        # Without Redis each process counts alone, from nothing: it allows only its share.
        self._local_items = {name: _share(item, processes) for name, item in self._items.items()}
        storage = RedisStorage(
            redis_url,
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix="ratelimit",
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
        )
        self._shared = MovingWindowRateLimiter(storage)
        self._local = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, name: str, client: str) -> None:
        """Count one request of `client`; TooManyRequestsException when over the limit."""
        item = self._items[name]
        try:
            allowed = await self._shared.hit(item, name, client)
            limiter = self._shared
        except StorageError as error:
            _warn("redis unavailable (%s): rate limits are shared out among processes", error)
            item = self._local_items[name]
            allowed = await self._local.hit(item, name, client)
            limiter = self._local
        if not allowed:
            raise TooManyRequestsException(
                f"too many requests; the limit is {item}",
                headers={
                    "Retry-After": str(await self._retry_after_s(limiter, item, name, client))
                },
            )

    @staticmethod
    async def _retry_after_s(
        limiter: MovingWindowRateLimiter, item: RateLimitItem, name: str, client: str
    ) -> int:
        try:
            stats = await limiter.get_window_stats(item, name, client)
        except StorageError:
            return item.get_expiry()
        return max(1, math.ceil(stats.reset_time - time.time()))


Connection = ASGIConnection[Any, Any, Any, Any]


def client_address(connection: Connection) -> str:
    return connection.client.host if connection.client else "unknown"


def signed_in_user(connection: Connection) -> str:
    return f"user:{connection.user.id}"


def rate_limited(name: str, client: Callable[[Connection], str] = client_address) -> Guard:
    """A guard that counts the request against limit `name` (RateLimiter in app state)."""

    async def guard(connection: Connection, _: BaseRouteHandler) -> None:
        await connection.app.state.rate_limiter.hit(name, client(connection))

    return guard


PROVIDER_WRITES = rate_limited("provider_write", signed_in_user)
