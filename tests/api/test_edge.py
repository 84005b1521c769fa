"""What the edge refuses and adds: only JSON bodies, only bearer tokens, security headers
on every answer, no caching of accounts and tokens, and CORS only for named origins."""

import socket
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import Settings
from tests.support.accounts import SignedIn, sign_up
from tests.support.live_server import live_server, settings_environment

Client = AsyncTestClient[Litestar]
LOGIN = b'{"email": "nobody@example.com", "password": "wrong-but-long-enough"}'
MAP_ORIGIN = "https://map.example.org"
SEARCH = "/api/providers/nearby?lat=59.3&lng=18"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register"])
async def test_a_body_not_labelled_json_is_415(
    client: Client, path: str, content_type: str | None
) -> None:
    """A cross-site form can post text/plain without a preflight, but never JSON."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = await client.post(path, content=LOGIN, headers=headers)
    assert answer.status_code == 415, answer.text
    assert answer.json()["detail"].startswith("the body must be application/json")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
async def test_json_in_any_spelling_of_its_media_type_is_read(
    client: Client, content_type: str
) -> None:
    answer = await client.post(
        "/api/auth/login", content=LOGIN, headers={"Content-Type": content_type}
    )
    assert answer.status_code == 401  # read, and the password is wrong


async def test_only_the_bearer_scheme_carries_a_token(client: Client, customer: SignedIn) -> None:
    token = customer.headers["Authorization"].removeprefix("Bearer ")
    statuses = {
        scheme: (
            await client.get("/api/me", headers={"Authorization": f"{scheme} {token}"})
        ).status_code
        for scheme in ("Bearer", "bearer", "Basic", "Token", "")
    }
    assert statuses == {"Bearer": 200, "bearer": 200, "Basic": 401, "Token": 401, "": 401}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (SEARCH, 200),
        ("/api/providers/nearby?lat=91&lng=18", 400),
        ("/api/providers/999999999", 404),
        ("/api/me", 401),
    ],
)
async def test_every_answer_carries_the_security_headers(
    client: Client, path: str, status: int
) -> None:
    answer = await client.get(path)
    assert answer.status_code == status
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert answer.headers["server"] == "equinet-geo"


async def test_answers_with_tokens_or_accounts_are_never_cached(
    client: Client, customer: SignedIn
) -> None:
    login = await client.post(
        "/api/auth/login", json={"email": customer.email, "password": "correct horse battery"}
    )
    me = await client.get("/api/me", headers=customer.headers)
    search = await client.get("/api/providers/nearby", params={"lat": 59.3, "lng": 18})
    assert login.status_code == 200, login.text
    assert login.headers["cache-control"] == "no-store"
    assert me.headers["cache-control"] == "no-store"
    assert search.headers["cache-control"].startswith("public, max-age=")


PRIVATE_READS = [
    ("customer", "/api/bookings"),
    ("customer", "/api/notifications"),
    ("customer", "/api/route-orders/mine"),
    ("provider", "/api/routes?date=2030-01-07"),
    ("provider", "/api/route-orders/available?lat=59.3&lng=18.0&date=2030-01-07"),
    ("provider", "/api/routes/1"),
    ("customer", "/api/me"),
]


@pytest.mark.parametrize(("role", "path"), PRIVATE_READS)
async def test_every_answer_for_a_signed_in_user_is_never_stored(
    client: Client, customer: SignedIn, role: str, path: str
) -> None:
    """What only its user may see (their bookings, notifications, routes) must not stay in
    a shared cache or on disk, whatever its status."""
    caller = customer if role == "customer" else await sign_up(client, "provider")
    answer = await client.get(path, headers=caller.headers)
    assert answer.status_code in (200, 404), answer.text
    assert answer.headers["cache-control"] == "no-store"


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[Client]:
    app = create_app(msgspec.structs.replace(settings, cors_allow_origins=MAP_ORIGIN))
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_without_named_origins_no_page_elsewhere_may_read_an_answer(client: Client) -> None:
    answer = await client.get(
        "/api/providers/nearby?lat=59.3&lng=18", headers={"Origin": MAP_ORIGIN}
    )
    assert "access-control-allow-origin" not in answer.headers


async def test_a_named_origin_may_call_the_api_and_no_other(cors_client: Client) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    allowed = await cors_client.options(
        "/api/auth/login", headers={"Origin": MAP_ORIGIN, **preflight}
    )
    refused = await cors_client.options(
        "/api/auth/login", headers={"Origin": "https://evil.example", **preflight}
    )
    read = await cors_client.get(
        "/api/providers/nearby?lat=59.3&lng=18", headers={"Origin": MAP_ORIGIN}
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == MAP_ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    assert refused.headers.get("access-control-allow-origin") != "https://evil.example"
    assert read.headers["access-control-allow-origin"] == MAP_ORIGIN


async def test_the_server_does_not_name_its_software(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as client:
        answer = await client.get("/health")
    assert answer.headers.get_list("server") == ["equinet-geo"]


async def test_a_body_over_the_limit_is_413_before_it_is_read(client: Client) -> None:
    padding = "x" * (64 * 1024)
    body = {"email": "nobody@example.com", "password": "wrong-but-long-enough", "pad": padding}
    answer = await client.post("/api/auth/login", json=body)
    assert answer.status_code == 413


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection within `seconds`."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    return True


def test_slow_headers_and_idle_connections_are_closed(settings: Settings) -> None:
    with live_server(settings_environment(settings), workers=1, header_timeout_ms=1000) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as slow:
            slow.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\n")  # and never the blank line
            assert _closed_within(slow, 3)
        with socket.create_connection((host, int(port))) as idle:
            idle.sendall(b"GET /health HTTP/1.1\r\nHost: api\r\n\r\n")
            idle.settimeout(3)
            assert idle.recv(4096).startswith(b"HTTP/1.1 200")
            assert _closed_within(idle, 3)
