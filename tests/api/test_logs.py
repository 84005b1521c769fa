"""Log lines are JSON objects naming the request they were written for, and every answer
names its request."""

import json
import re
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.settings import Settings
from tests.support.live_server import live_server, settings_environment
from tests.support.ports import closed_port

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize("given", ["trace-42", "a.b:c_d-1"])
async def test_a_well_formed_request_id_is_echoed(client: Client, given: str) -> None:
    answer = await client.get("/health", headers={"X-Request-ID": given})
    assert answer.headers["x-request-id"] == given


@pytest.mark.parametrize("given", [None, "", "x" * 65, "has space", "a/b", "<script>"])
async def test_otherwise_each_answer_gets_a_new_id(client: Client, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}
    first = await client.get("/api/providers/999999999", headers=headers)
    second = await client.get("/api/providers/999999999", headers=headers)
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    assert ids[0] != ids[1]


async def test_the_server_logs_json_lines_carrying_the_request_id(
    settings: Settings, tmp_path: Path
) -> None:
    """An upstream geocoder that is away makes the chain log a warning mid-request."""
    environment = {
        **settings_environment(settings),
        "GEOCODER": "nominatim",
        "NOMINATIM_URL": f"http://127.0.0.1:{closed_port()}",
        "NOMINATIM_USER_AGENT": "equinet-geo-tests/1 (test@example.com)",
    }
    log = tmp_path / "server.log"
    with live_server(environment, workers=1, log=log) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.get(
                "/api/geocode", params={"q": "Uppsala"}, headers={"X-Request-ID": "trace-42"}
            )
    assert answer.status_code == 200  # the gazetteer answered
    assert answer.headers["x-request-id"] == "trace-42"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    [warning] = [line for line in lines if line.get("request_id") == "trace-42"]
    assert warning["level"] == "warning"
    assert warning["logger"] == "geo.geocoding.chain"
    assert warning["message"].startswith("upstream geocoder failed: nominatim")
    assert set(warning) == {"time", "level", "logger", "message", "request_id"}
