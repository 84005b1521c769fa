"""Fixtures of the HTTP tests: accounts, an open provider, and the app under granian."""

from collections.abc import Iterator

import pytest

from app.settings import Settings
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import Client, OpenProvider, open_provider
from tests.support.live_server import live_server, settings_environment
from tests.support.worker import job_worker


@pytest.fixture
async def provider(client: Client) -> OpenProvider:
    """A new provider open 08:00-17:00 every day, with a 60-minute service."""
    return await open_provider(client)


@pytest.fixture
async def customer(client: Client) -> SignedIn:
    return await sign_up(client, "customer")


@pytest.fixture(scope="module")
def server_url(settings: Settings) -> Iterator[str]:
    """The app under granian with two worker processes, on the suite's database: for
    requests that must really run at the same time (the test client runs one at a time)."""
    with live_server(settings_environment(settings), workers=2) as url:
        yield url


@pytest.fixture(scope="session")
def job_worker_running(settings: Settings) -> Iterator[None]:
    """A worker of the suite's queue, for the session: it relays the suite database's
    outbox, sends its mail to the local SMTP server and writes its exports."""
    with job_worker(settings_environment(settings)):
        yield
