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
from typing import Any, NamedTuple

from litestar.exceptions import TooManyRequestsException
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.edge.metrics import RATE_LIMIT_FALLBACKS, RATE_LIMIT_REJECTIONS
from app.edge.proxies import TrustedProxies
from app.edge.state import Counted, request_state
from app.settings import RateLimits
from db.rate_windows import LocalWindows, RedisWindows, Refusal, Window
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)


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

    async def hit(
        self, *counted: Counted, reading: Sequence[str] = (), sending: Sequence[bytes] = ()
    ) -> list[Any] | None:
        """Count one request against each (limit name, client) in turn, and read the Redis
        keys `reading`, in one round trip that carries the packed commands `sending` too:
        the values read, or None when Redis is away. TooManyRequestsException from the
        first limit it exceeds (then none counts it)."""
        if not self._enabled:
            counted = ()
        if not counted and not reading and not sending:
            return []
        keys = [f"ratelimit:{name}:{client}" for name, client in counted]
        windows = [self._windows[name] for name, _ in counted]
        read: list[Any] | None
        try:
            refusal, read = await self._shared.count(keys, windows, reading, sending)
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


class RouteLimits(NamedTuple):
    """The limits a route's requests count against, beyond the API's ceiling."""

    client_limit: str = "client"
    """The limit of every API request per client, or one the route has in its place."""
    per_client: tuple[str, ...] = ()
    per_user: tuple[str, ...] = ()
    """Counted for the signed-in user, whichever address it comes from."""
    by_lookup: bool = False
    """Counted in the round trip of the route's cache lookup (edge.answers), not before."""


_OPT = "limits"


def limited(
    *per_client: str, per_user: tuple[str, ...] = (), instead_of_client: str = "client"
) -> dict[str, RouteLimits]:
    """Route opt: the limits a route's requests count against (settings.RateLimits' names),
    per client and per user; `instead_of_client` replaces the limit of every request per
    client (map tiles: a map asks for a dozen a view)."""
    return {_OPT: RouteLimits(instead_of_client, per_client, per_user)}


def counted_by_lookup(route: dict[str, RouteLimits]) -> dict[str, RouteLimits]:
    """Route opt of a cached read: its limits are counted with its cache lookup."""
    return {_OPT: route.get(_OPT, RouteLimits())._replace(by_lookup=True)}


def client_of(scope: Scope, proxies: TrustedProxies) -> str:
    """The request's client (TrustedProxies), worked out once per request."""
    state = request_state(scope)
    if state.client is None:
        state.client = proxies.client(scope)
    return state.client


def _counted(scope: Scope, route: RouteLimits, client: str) -> tuple[Counted, ...]:
    """Its client's limit first, then the API's (a client over its own limit spends none
    of everyone's), then the route's."""
    user = scope.get("user")
    return (
        (route.client_limit, client),
        ("everyone", "all"),
        *((name, client) for name in route.per_client),
        *((name, f"user:{user.id}") for name in route.per_user if user is not None),
    )


def limit_api_requests(limiter: RateLimiter) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware: every API request counts against the limits its route declares
    (`limited`), in one round trip before its handler runs; a cached read's count in the
    round trip of its cache lookup instead, or after the answer when it never got there
    (a 400 for a malformed parameter). The one place limits are counted from."""

    def limits_of(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if not scope["path"].startswith("/api/"):
                await app(scope, receive, send)
                return
            route: RouteLimits = scope["route_handler"].opt.get(_OPT, RouteLimits())
            counted = _counted(scope, route, client_of(scope, limiter.proxies))
            if not route.by_lookup:
                await limiter.hit(*counted)
                await app(scope, receive, send)
                return
            state = request_state(scope)
            state.limits_due = counted
            try:
                await app(scope, receive, send)
            finally:
                if state.limits_due is not None:
                    with contextlib.suppress(TooManyRequestsException):  # answered already
                        await limiter.hit(*state.limits_due)

        return middleware

    return limits_of


def limits_due(scope: Scope) -> tuple[Counted, ...]:
    """The limits a cached read is to count in its lookup's round trip (none when counted
    already); after this call they are the caller's to count."""
    state = request_state(scope)
    due, state.limits_due = state.limits_due or (), None
    return due


PROVIDER_WRITES = limited(per_user=("provider_write",))
"""Changes to profiles, services and hours (each can end cached searches), per user."""
