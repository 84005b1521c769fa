"""Fixtures of the booking, hours and notification tests."""

import pytest

from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import Client, OpenProvider, open_provider


@pytest.fixture
async def provider(client: Client) -> OpenProvider:
    """A new provider open 08:00-17:00 every day, with a 60-minute service."""
    return await open_provider(client)


@pytest.fixture
async def customer(client: Client) -> SignedIn:
    return await sign_up(client, "customer")
