"""The headers every answer carries: security headers, the request id, CORS."""

from litestar.config.cors import CORSConfig
from litestar.openapi.spec import SecurityRequirement
from litestar.types import Message, Scope

from app.edge.logs import REQUEST_ID_HEADER, request_id_of

PUBLIC_OPT = "exclude_from_auth"
# Route handlers (or controllers) with PUBLIC in their opt answer without a token (the opt
# Litestar's authentication middleware reads), and with ANONYMOUS as their security the
# OpenAPI document says so. Every other route's answers are never stored.
PUBLIC = {PUBLIC_OPT: True}
ANONYMOUS: list[SecurityRequirement] = [{}]

# On every answer. The API sends JSON only, so nothing may be framed, sniffed or run;
# the schema pages under /schema load their own scripts and keep the default policy. The
# map page runs its own scripts, and MapLibre's worker, a module of its own beside it.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-site",
    "server": "equinet-geo",  # in place of the server software and its version
}
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
MAP_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; worker-src 'self'; child-src 'self';"
    " frame-ancestors 'none'"
)
# Answers that carry a token (login, registration) and, below, every answer of a route that
# needs one: no cache, shared or private, may keep them.
TOKEN_PREFIX = "/api/auth/"


_ALWAYS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
_API_POLICY = (b"content-security-policy", API_CONTENT_SECURITY_POLICY.encode())
_MAP_POLICY = (b"content-security-policy", MAP_CONTENT_SECURITY_POLICY.encode())
_NO_STORE = (b"cache-control", b"no-store")
_REQUEST_ID = REQUEST_ID_HEADER.encode()


async def add_edge_headers(message: Message, scope: Scope) -> None:
    """A before-send hook: on every HTTP answer, errors included (the authentication
    middleware's 401s too, which no inner middleware sees), the security headers and the
    id of the request it answers. Headers of the same names are replaced."""
    if message["type"] != "http.response.start":
        return
    path: str = scope["path"]
    ours = [*_ALWAYS, (_REQUEST_ID, request_id_of(scope).encode())]
    if path == "/map" or path.startswith("/map/"):
        ours.append(_MAP_POLICY)
    elif not path.startswith("/schema"):
        ours.append(_API_POLICY)
    if path.startswith(TOKEN_PREFIX) or _needs_a_token(scope):
        ours.append(_NO_STORE)
    names = {name for name, _ in ours}
    kept = [header for header in message.get("headers", ()) if header[0].lower() not in names]
    message["headers"] = kept + ours


def _needs_a_token(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    return handler is not None and not handler.opt.get(PUBLIC_OPT)


def cors_config(allow_origins: str) -> CORSConfig | None:
    """CORS for these comma-separated origins; none, when no origin is named. A bearer
    token travels in a header, never a cookie, so credentials are never allowed."""
    origins = [origin.strip() for origin in allow_origins.split(",") if origin.strip()]
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        allow_credentials=False,
        max_age=600,
    )
