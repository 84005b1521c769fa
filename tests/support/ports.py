"""Loopback ports for servers the tests start, or for services that are down."""

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def server_ports(count: int = 1) -> int:
    """The first of `count` consecutive loopback ports for servers to listen on, below the
    range the kernel hands out as the source ports of outgoing connections: a port from
    that range may be taken by the suite's own connections before the server binds it
    (one instance of a cluster then never starts)."""
    ephemeral_from = int(_EPHEMERAL_RANGE.read_text().split()[0])
    rng = random.Random()
    for _ in range(1000):
        first = rng.randrange(_LOWEST, ephemeral_from - count)
        if all(_free(first + k) for k in range(count)):
            return first
    raise RuntimeError(f"no {count} free consecutive ports below {ephemeral_from}")
