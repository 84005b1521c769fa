"""Who a request comes from and where it was sent: believed from trusted proxies only."""

from typing import Any

import pytest

from app.edge.proxies import TrustedProxies

PROXIES = TrustedProxies("10.0.0.0/8")


def _scope(peer: str, headers: dict[str, str], server: tuple[str, int] = ("0.0.0.0", 8000)) -> Any:
    return {
        "client": (peer, 40000),
        "scheme": "http",
        "server": server,
        "headers": [(name.encode(), value.encode()) for name, value in headers.items()],
    }


@pytest.mark.parametrize(
    ("peer", "headers", "origin"),
    [
        (
            "10.0.0.5",
            {"host": "maps.example", "x-forwarded-proto": "https"},
            "https://maps.example",
        ),
        ("10.0.0.5", {"host": "a", "x-forwarded-host": "b.example:8443"}, "http://b.example:8443"),
        ("10.0.0.5", {"host": "bad host/", "x-forwarded-proto": "gopher"}, "http://0.0.0.0:8000"),
        (
            "192.0.2.1",
            {"host": "evil.example", "x-forwarded-proto": "https"},
            "http://0.0.0.0:8000",
        ),
        ("192.0.2.1", {"x-forwarded-host": "evil.example"}, "http://0.0.0.0:8000"),
    ],
)
def test_the_origin_comes_from_a_trusted_proxys_headers_or_the_servers_address(
    peer: str, headers: dict[str, str], origin: str
) -> None:
    assert PROXIES.origin(_scope(peer, headers))[0] == origin


def test_a_default_port_is_left_out_and_ipv6_is_bracketed() -> None:
    assert PROXIES.origin(_scope("192.0.2.1", {}, ("api.example", 80)))[0] == "http://api.example"
    assert PROXIES.origin(_scope("192.0.2.1", {}, ("::1", 8000)))[0] == "http://[::1]:8000"


def test_a_peer_outside_the_trusted_proxies_is_its_own_client_whatever_it_forwards() -> None:
    forged = {"x-forwarded-for": "203.0.113.7"}
    assert PROXIES.client(_scope("127.0.0.2", forged)) == "127.0.0.2"
    assert PROXIES.client(_scope("10.0.0.5", forged)) == "203.0.113.7"
