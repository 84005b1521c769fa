"""A local stand-in for Nominatim's /search: its JSON shape, its 429s and 5xx.

Runs on 127.0.0.1 in a thread, records when each request arrived and what it asked,
and answers from a small table of known places.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

KNOWN_PLACES = {
    "drottninggatan 1, stockholm": (59.3307, 18.0637, "Drottninggatan 1, Norrmalm, Stockholm"),
    "storgatan 1, uppsala": (59.8586, 17.6389, "Storgatan 1, Uppsala"),
}


@dataclass
class Call:
    at: float  # time.monotonic() on arrival
    params: dict[str, str]
    user_agent: str


@dataclass
class NominatimStub:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    status: int = 200
    """Answer every request with this status (429 and 5xx as Nominatim does)."""
    retry_after: str | None = "2"
    """The Retry-After header of a 429, if any."""
    delay_s: float = 0.0
    """Think this long before answering, so that concurrent callers overlap."""
    places: dict[str, tuple[float, float, str]] = field(default_factory=lambda: dict(KNOWN_PLACES))

    def queries(self) -> list[str]:
        return [call.params.get("q", "") for call in self.calls]


def _handler(stub: NominatimStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            stub.calls.append(Call(time.monotonic(), params, self.headers.get("User-Agent", "")))
            time.sleep(stub.delay_s)
            if url.path != "/search":
                self._send(404, {"error": "not found"})
            elif stub.status == 429:
                wait = {} if stub.retry_after is None else {"Retry-After": stub.retry_after}
                self._send(429, {"error": "Too Many Requests"}, wait)
            elif stub.status != 200:
                self._send(stub.status, {"error": "Internal Server Error"})
            else:
                self._send(200, self._search(params.get("q", "")))

        def _search(self, query: str) -> list[dict[str, object]]:
            if query not in stub.places:
                return []
            lat, lon, name = stub.places[query]
            return [
                {
                    "place_id": 1,
                    "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
                    "osm_type": "node",
                    "osm_id": 1,
                    "lat": str(lat),
                    "lon": str(lon),
                    "category": "place",
                    "type": "house",
                    "place_rank": 30,
                    "importance": 0.1,
                    "addresstype": "place",
                    "name": "",
                    "display_name": name,
                    "boundingbox": [str(lat), str(lat), str(lon), str(lon)],
                }
            ]

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running_stub() -> Iterator[NominatimStub]:
    stub = NominatimStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
