"""Reading a request's ASGI scope directly, where building a Request would cost more than
the answer (middleware on every request, cached searches)."""

from litestar.types import Scope


def raw_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case, as ASGI servers give names), if any."""
    return next((value for key, value in scope["headers"] if key == name), None)
