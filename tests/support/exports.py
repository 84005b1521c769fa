"""Exports as a client makes them: asked for, waited on, downloaded."""

from typing import Any

from tests.support.accounts import SignedIn
from tests.support.bookings import Client
from tests.support.waiting import until


async def exported(client: Client, user: SignedIn, **request: Any) -> tuple[dict[str, Any], bytes]:
    """Starts an export, waits for it, downloads it: its last state and its file."""
    started = await client.post("/api/exports", json=request, headers=user.headers)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert started.json()["status"] == "queued"
    state: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal state
        state = (await client.get(location, headers=user.headers)).json()
        return state["status"] in ("done", "failed")

    assert await until(done), state
    assert state["status"] == "done", state
    assert state["progress"] == 1.0
    download = await client.get(state["download_url"], headers=user.headers)
    assert download.status_code == 200
    return state, download.content
