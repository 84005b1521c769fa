"""Reading a request's ASGI scope directly, where building a Request would cost more than
the answer (middleware on every request, cached searches)."""

from collections.abc import Callable

from litestar.types import Scope


def raw_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case, as ASGI servers give names), if any."""
    return next((value for key, value in scope["headers"] if key == name), None)


def once_per_request(scope: Scope, name: str, work_out: Callable[[], str]) -> str:
    """`work_out()` the first time a request asks for `name`; kept in its scope's state."""
    state = scope.setdefault("state", {})
    value: str | None = state.get(name)
    if value is None:
        value = state[name] = work_out()
    return value
