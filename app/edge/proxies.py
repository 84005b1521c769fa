"""What a request says about where it comes from and which URL it was sent to, believed
only from the proxies this deployment trusts (TRUSTED_PROXIES): anyone else can write
anything into X-Forwarded-For or Host."""

import re
from ipaddress import ip_address

from litestar.types import Scope

from app.edge.state import raw_header
from app.settings import networks

# A host name or an IPv4 or bracketed IPv6 address, with an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
_SCHEMES = ("http", "https")
FORWARDED_ORIGIN = "Host, X-Forwarded-Host, X-Forwarded-Proto"
"""What an answer built from `origin`'s headers varies by."""


class TrustedProxies:
    def __init__(self, trusted_proxies: str) -> None:
        self._trusted = networks(trusted_proxies)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def _from_trusted_proxy(self, scope: Scope) -> bool:
        client = scope.get("client")
        return bool(self._trusted) and client is not None and self._is_trusted(client[0])

    def client(self, scope: Scope) -> str:
        """The socket's peer, unless the peer is a trusted proxy; then the right-most
        address in X-Forwarded-For that no trusted proxy added. A client can write anything
        into that header, but not past the proxy that appends its address."""
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self._from_trusted_proxy(scope):
            return peer
        hops = [
            hop.strip()
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer

    def origin(self, scope: Scope) -> tuple[str, bool]:
        """The scheme and authority the request was sent to (`https://maps.example`), and
        whether it came from the request's headers. From a trusted proxy: the Host (or
        X-Forwarded-Host) and X-Forwarded-Proto it passes on; from anyone else: the address
        the server listens on, which no header can change."""
        scheme, host = scope.get("scheme", "http"), None
        if self._from_trusted_proxy(scope):
            forwarded = _header(scope, b"x-forwarded-proto")
            scheme = forwarded if forwarded in _SCHEMES else scheme
            host = _header(scope, b"x-forwarded-host") or _header(scope, b"host")
        if host is not None and _HOST.fullmatch(host):
            return f"{scheme}://{host}", True
        server = scope.get("server")
        if server is None:
            return f"{scheme}://127.0.0.1", False
        address, port = server
        address = f"[{address}]" if ":" in address else address
        default = (scheme, port) in (("http", 80), ("https", 443))
        return f"{scheme}://{address}" + ("" if default or port is None else f":{port}"), False


def _header(scope: Scope, name: bytes) -> str | None:
    value = raw_header(scope, name)
    return None if value is None else value.decode("latin-1").strip()
