"""Rate limits, in layers: every API request counts against its client's limit and the
API's global ceiling; expensive or attractive endpoints have tighter limits of their own,
and writes that need an account count per user.

Moving windows in Redis (the `limits` library's atomic Lua scripts), shared by every
process. When Redis is down each process keeps its own windows in memory, allowing its
share of each limit (the limit divided by PROCESSES), so that together they stay within
it and the API keeps serving. A client is the socket's peer address, or
the address a trusted proxy says it forwarded for (TRUSTED_PROXIES), or the signed-in
user for writes that need an account.
"""

import logging
import math
import time
from collections.abc import Callable
from ipaddress import ip_address, ip_network
from typing import Any

import msgspec
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Receive, Scope, Send

from app.metrics import RATE_LIMIT_FALLBACKS, RATE_LIMIT_REJECTIONS
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)


Connection = ASGIConnection[Any, Any, Any, Any]


class RateLimits(msgspec.Struct, frozen=True):
    """Limits in the `limits` notation (env: RATE_LIMIT_<NAME>)."""

    client: str = "300/minute"
    """Every API request, per client address."""
    everyone: str = "30000/minute"
    """Every API request, all clients together: the ceiling the deployment is sized for."""
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


class ClientAddresses:
    """Where a request comes from: the socket's peer, unless the peer is a trusted proxy;
    then the right-most address in X-Forwarded-For that no trusted proxy added. A client
    can write anything into that header, but not past the proxy that appends its address."""

    def __init__(self, trusted_proxies: str) -> None:
        self._trusted = tuple(
            ip_network(cidr.strip()) for cidr in trusted_proxies.split(",") if cidr.strip()
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def of(self, connection: Connection) -> str:
        peer = connection.client.host if connection.client else "unknown"
        if not self._is_trusted(peer):
            return peer
        hops = [
            hop.strip()
            for value in connection.headers.getall("x-forwarded-for", [])
            for hop in value.split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer


class RateLimiter:
    def __init__(
        self,
        redis_url: str,
        limits: RateLimits,
        processes: int = 1,
        *,
        enabled: bool = True,
        trusted_proxies: str = "",
    ) -> None:
        self._items = limits.items()
        self._enabled = enabled
        self.addresses = ClientAddresses(trusted_proxies)
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
        if not self._enabled:
            return
        item = self._items[name]
        try:
            allowed = await self._shared.hit(item, name, client)
            limiter = self._shared
        except StorageError as error:
            _warn("redis unavailable (%s): rate limits are shared out among processes", error)
            RATE_LIMIT_FALLBACKS.inc()
            item = self._local_items[name]
            allowed = await self._local.hit(item, name, client)
            limiter = self._local
        if not allowed:
            RATE_LIMIT_REJECTIONS.labels(limit=name).inc()
            retry_after_s = await self._retry_after_s(limiter, item, name, client)
            raise TooManyRequestsException(
                f"too many requests; the limit is {item}",
                headers={
                    "Retry-After": str(retry_after_s),
                    "RateLimit-Limit": str(item.amount),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(retry_after_s),
                    "RateLimit-Policy": f"{item.amount};w={item.get_expiry()}",
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


def client_address(connection: Connection) -> str:
    return str(connection.app.state.rate_limiter.addresses.of(connection))


def signed_in_user(connection: Connection) -> str:
    return f"user:{connection.user.id}"


def rate_limited(name: str, client: Callable[[Connection], str] = client_address) -> Guard:
    """A guard that counts the request against limit `name` (RateLimiter in app state)."""

    async def guard(connection: Connection, _: BaseRouteHandler) -> None:
        await connection.app.state.rate_limiter.hit(name, client(connection))

    return guard


def limit_api_requests(app: ASGIApp) -> ASGIApp:
    """Middleware, the outer layers for every API request: its client's limit, then the
    global one (so a client over its own limit spends none of everyone's). A middleware
    rather than an app-wide guard: Litestar copies the route handler for every guard call,
    which costs more than the check."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/api/"):
            connection: Connection = ASGIConnection(scope)
            limiter: RateLimiter = connection.app.state.rate_limiter
            await limiter.hit("client", client_address(connection))
            await limiter.hit("everyone", "all")
        await app(scope, receive, send)

    return middleware


PROVIDER_WRITES = rate_limited("provider_write", signed_in_user)
