"""Mail leaves only with the change it reports: a notification and its mail are one
transaction (an outbox row the worker relays once it has committed)."""

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.accounts import sign_up
from tests.support.bookings import Client, days_ahead, open_provider, stockholm
from tests.support.commits import failing_commits
from tests.support.mail import letter_to, letters_to

pytestmark = pytest.mark.usefixtures("job_worker_running")


async def _mails_waiting_for(engine: AsyncEngine, user_id: int) -> list[str]:
    """The notification mails the outbox holds for the user."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT payload->>'template' FROM outbox WHERE job = 'send_mail'"
                " AND payload ? 'data' AND (payload->>'user_id')::bigint = :id ORDER BY id"
            ),
            {"id": user_id},
        )
    return [row[0] for row in rows]


async def test_a_booking_rolled_back_at_commit_sends_no_mail_and_a_committed_one_does(
    client: Client, engine: AsyncEngine
) -> None:
    owner = await sign_up(client, "provider", verified=True)
    provider = await open_provider(client, owner=owner)
    customer = await sign_up(client, "customer")
    booking = provider.booking(stockholm(days_ahead(22), 11))
    async with failing_commits(engine, "bookings"):
        failed = await client.post("/api/bookings", json=booking, headers=customer.headers)
    assert failed.status_code == 500
    assert await _mails_waiting_for(engine, owner.id) == []

    booked = await client.post("/api/bookings", json=booking, headers=customer.headers)
    assert booked.status_code == 201
    assert await _mails_waiting_for(engine, owner.id) == ["booking_requested"]
    letter = await letter_to(owner.email, "Ny bokning")
    assert letter["Subject"].startswith("Ny bokning: Blixten")
    assert len(letters_to(owner.email, "Ny bokning")) == 1


async def test_unverified_and_unwilling_users_get_no_notification_mail(
    client: Client, engine: AsyncEngine
) -> None:
    provider = await open_provider(client)  # its owner has not verified the address
    customer = await sign_up(client, "customer")
    booked = await client.post(
        "/api/bookings",
        json=provider.booking(stockholm(days_ahead(23), 11)),
        headers=customer.headers,
    )
    assert booked.status_code == 201
    assert await _mails_waiting_for(engine, provider.owner.id) == []
    quiet = {"email_notifications": False}
    assert (await client.patch("/api/me", json=quiet, headers=customer.headers)).status_code == 200
    confirmed = await client.post(
        f"/api/bookings/{booked.json()['id']}/confirm", headers=provider.owner.headers
    )
    assert confirmed.status_code == 200
    assert await _mails_waiting_for(engine, customer.id) == []
