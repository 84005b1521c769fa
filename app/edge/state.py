"""One typed value per request for what the edge works out once and passes on, and the
scope read directly where building a Request would cost more than the answer
(middleware on every request, cached reads)."""

from dataclasses import dataclass

from litestar.types import Scope

from db.search_cache import Lookup

_KEY = "equinet"
Counted = tuple[str, str]
"""A limit's name, and who the request counts for."""


@dataclass(slots=True)
class RequestState:
    request_id: str | None = None
    """X-Request-ID: the client's when well-formed, else one made here (edge.logs)."""
    client: str | None = None
    """Who the request counts for: its address, as the trusted proxies tell (edge.proxies)."""
    limits_due: tuple[Counted, ...] | None = None
    """The limits a cached read is still to count, in the round trip of its cache lookup;
    None once counted (edge.limits)."""
    lookup: Lookup | None = None
    """A cached read's lookup made before routing, left for its handler (edge.answers)."""


def request_state(scope: Scope) -> RequestState:
    """The request's state, made the first time it is asked for."""
    held = scope.setdefault("state", {})
    state: RequestState | None = held.get(_KEY)
    if state is None:
        state = held[_KEY] = RequestState()
    return state


def raw_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case, as ASGI servers give names), if any."""
    return next((value for key, value in scope["headers"] if key == name), None)
