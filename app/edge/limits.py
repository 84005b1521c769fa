"""Rate limits, in layers: every API request counts against its client's limit and the
API's global ceiling; expensive or attractive endpoints have tighter limits of their own,
and writes that need an account count per user.

Moving windows in Redis (db.rate_windows), shared by every process; the layers a request
passes are counted in one round trip. When Redis is down each process keeps its own windows
in memory, allowing its share of each limit (the limit divided by PROCESSES), so that
together they stay within it and the API keeps serving. A client is the socket's peer
address, or the address a trusted proxy says it forwarded for (TRUSTED_PROXIES), or the
signed-in user for writes that need an account.
"""

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.edge.metrics import RATE_LIMIT_FALLBACKS, RATE_LIMIT_REJECTIONS
from app.edge.proxies import TrustedProxies
from app.edge.state import once_per_request
from app.settings import RateLimits
from db.rate_windows import LocalWindows, RedisWindows, Refusal, Window
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)


Connection = ASGIConnection[Any, Any, Any, Any]
Counted = tuple[str, str]
"""A limit's name, and who the request counts for."""


def windows(limits: RateLimits, processes: int = 1) -> dict[str, Window]:
    """Each limit as a window; `processes` > 1: one process's share of it, such that
    together they stay within it (never shared down to nothing)."""
    return {
        name: Window(max(1, item.amount // processes), item.get_expiry() * 1000)
        for name, item in limits.items().items()
    }


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        limits: RateLimits,
        processes: int = 1,
        *,
        enabled: bool = True,
        trusted_proxies: str = "",
    ) -> None:
        self._windows = windows(limits)
        # Without Redis each process counts alone, from nothing: it allows only its share.
        self._local_windows = windows(limits, processes)
        self._enabled = enabled
        self.proxies = TrustedProxies(trusted_proxies)
        self._shared = RedisWindows(redis)
        self._local = LocalWindows()

    async def hit(self, *counted: Counted, reading: Sequence[str] = ()) -> list[Any] | None:
        """Count one request against each (limit name, client) in turn, and read the Redis
        keys `reading`, in one round trip: the values read, or None when Redis is away.
        TooManyRequestsException from the first limit it exceeds (then none counts it)."""
        if not self._enabled:
            counted = ()
        if not counted and not reading:
            return []
        keys = [f"ratelimit:{name}:{client}" for name, client in counted]
        windows = [self._windows[name] for name, _ in counted]
        read: list[Any] | None
        try:
            refusal, read = await self._shared.count(keys, windows, reading)
        except RedisError as error:
            _warn("redis unavailable (%s): limits counted in process, nothing read", error)
            if not counted:
                return None
            RATE_LIMIT_FALLBACKS.inc()
            windows = [self._local_windows[name] for name, _ in counted]
            refusal, read = self._local.count(keys, windows), None
        if refusal is not None:
            raise _too_many(counted[refusal.by][0], windows[refusal.by], refusal)
        return read


def _too_many(name: str, window: Window, refusal: Refusal) -> TooManyRequestsException:
    RATE_LIMIT_REJECTIONS.labels(limit=name).inc()
    retry_after_s = str(max(1, math.ceil(refusal.retry_after_ms / 1000)))
    window_s = window.window_ms // 1000
    return TooManyRequestsException(
        f"too many requests; the limit is {window.amount} per {window_s} seconds",
        headers={
            "Retry-After": retry_after_s,
            "RateLimit-Limit": str(window.amount),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": retry_after_s,
            "RateLimit-Policy": f"{window.amount};w={window_s}",
        },
    )


def client_address(scope: Scope) -> str:
    """The request's client (TrustedProxies), worked out once per request."""
    proxies: TrustedProxies = scope["app"].state.rate_limiter.proxies
    return once_per_request(scope, "client_address", lambda: proxies.client(scope))


def _client_of(connection: Connection) -> str:
    return client_address(connection.scope)


def signed_in_user(connection: Connection) -> str:
    return f"user:{connection.user.id}"


def rate_limited(name: str, client: Callable[[Connection], str] = _client_of) -> Guard:
    """A guard that counts the request against limit `name` (RateLimiter in app state)."""

    async def guard(connection: Connection, _: BaseRouteHandler) -> None:
        await connection.app.state.rate_limiter.hit((name, client(connection)))

    return guard


_COUNTED_BY_HANDLER_KEY = "api_limits_counted_by_handler"
COUNTED_BY_HANDLER = {_COUNTED_BY_HANDLER_KEY: True}
"""Route opt for handlers that count the API-wide limits themselves (`api_limits_due`), in
the round trip of a Redis read they make anyway."""
_DUE = "api_limits_due"
_CLIENT_LIMIT_KEY = "client_limit"


def counted_per_client_as(limit: str) -> dict[str, str]:
    """Route opt: the route's requests count against `limit` per client, in place of the
    limit of every API request."""
    return {_CLIENT_LIMIT_KEY: limit}


def limit_api_requests(app: ASGIApp) -> ASGIApp:
    """Middleware, the outer layers for every API request: its client's limit, then the
    global one (so a client over its own limit spends none of everyone's), counted in one
    round trip before the handler runs; or, for handlers that take them over
    (COUNTED_BY_HANDLER), by the handler, and after the response for requests that never
    reached it (a 400 for a malformed parameter). A middleware rather than an app-wide
    guard: Litestar copies the route handler for every guard call, which costs more than
    the check."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if not scope["path"].startswith("/api/"):
            await app(scope, receive, send)
            return
        limiter: RateLimiter = scope["app"].state.rate_limiter
        opt = scope["route_handler"].opt
        client_limit = opt.get(_CLIENT_LIMIT_KEY, "client")
        layers = ((client_limit, client_address(scope)), ("everyone", "all"))
        if not opt.get(_COUNTED_BY_HANDLER_KEY):
            await limiter.hit(*layers)
            await app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[_DUE] = layers
        try:
            await app(scope, receive, send)
        finally:
            if state.pop(_DUE, None) is not None:
                with contextlib.suppress(TooManyRequestsException):  # answered already
                    await limiter.hit(*layers)

    return middleware


def api_limits_due(scope: Scope) -> tuple[Counted, ...]:
    """The API-wide limits a COUNTED_BY_HANDLER handler is to count for its request (none
    when they are counted already); after this call they are the handler's to count."""
    due: tuple[Counted, ...] = scope.setdefault("state", {}).pop(_DUE, ())
    return due


PROVIDER_WRITES = rate_limited("provider_write", signed_in_user)
