"""Password resets, e-mail verification and notifications by mail, end to end: the API
writes the outbox, the worker (`python -m app.jobs`) sends through the local SMTP server,
and the test reads the .eml it stored and follows its link."""

import asyncio
import statistics
import uuid
from time import perf_counter

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.accounts import PASSWORD, sign_up
from tests.support.bookings import Client, OpenProvider, days_ahead, open_provider, stockholm
from tests.support.mail import html_of, letter_to, letters_to, link_token, text_of
from tests.support.waiting import until

pytestmark = pytest.mark.usefixtures("job_worker_running")

NEW_PASSWORD = "a fresh stable door 7"
RESET = "Välj ett nytt lösenord"


async def _outbox_done(engine: AsyncEngine, email: str) -> bool:
    """Whether the worker has finished the reset request for this email."""
    async with engine.connect() as connection:
        done = await connection.scalar(
            text("SELECT bool_and(done_at IS NOT NULL) FROM outbox WHERE payload->>'email' = :e"),
            {"e": email},
        )
    return bool(done)


async def test_a_forgotten_password_is_reset_through_the_mailed_link_once(client: Client) -> None:
    account = await sign_up(client, "customer")
    asked = await client.post("/api/auth/password-reset", json={"email": account.email.upper()})
    assert asked.status_code == 202
    letter = await letter_to(account.email, RESET)
    assert letter["Message-ID"].startswith("<outbox-")
    assert "30 minuter" in text_of(letter)
    token = link_token(letter)
    assert f"token={token}" in html_of(letter)

    reset = {"token": token, "password": NEW_PASSWORD}
    assert (await client.post("/api/auth/password-reset/confirm", json=reset)).status_code == 204
    # Every session ended; the old password is gone, the new one works.
    assert (await client.get("/api/me", headers=account.headers)).status_code == 401
    old = {"email": account.email, "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=old)).status_code == 401
    new = {"email": account.email, "password": NEW_PASSWORD}
    assert (await client.post("/api/auth/login", json=new)).status_code == 200
    again = await client.post("/api/auth/password-reset/confirm", json=reset)
    assert again.status_code == 400
    assert again.json()["detail"] == "the token is unknown, used already or expired"


async def test_a_reset_token_expires_after_its_half_hour(
    client: Client, engine: AsyncEngine
) -> None:
    account = await sign_up(client, "customer")
    await client.post("/api/auth/password-reset", json={"email": account.email})
    token = link_token(await letter_to(account.email, RESET))
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE account_tokens SET expires_at = now() - interval '1 second'"
                " WHERE user_id = :id AND purpose = 'password_reset'"
            ),
            {"id": account.id},
        )
    reset = {"token": token, "password": NEW_PASSWORD}
    assert (await client.post("/api/auth/password-reset/confirm", json=reset)).status_code == 400
    login = {"email": account.email, "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status_code == 200


async def test_a_weak_new_password_is_400_and_leaves_the_token_good(client: Client) -> None:
    account = await sign_up(client, "customer")
    await client.post("/api/auth/password-reset", json={"email": account.email})
    token = link_token(await letter_to(account.email, RESET))
    weak = await client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": "aaaaaaaaaaaa"}
    )
    assert weak.status_code == 400
    good = {"token": token, "password": NEW_PASSWORD}
    assert (await client.post("/api/auth/password-reset/confirm", json=good)).status_code == 204


async def test_reset_requests_do_not_tell_which_emails_have_accounts(
    client: Client, engine: AsyncEngine
) -> None:
    """The same answer, as fast, for an account's email and for nobody's; nobody's gets
    no mail."""
    account = await sign_up(client, "customer")
    nobody = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
    timings: dict[str, list[float]] = {account.email: [], nobody: []}
    for _ in range(15):
        for email, taken in timings.items():
            started = perf_counter()
            answer = await client.post("/api/auth/password-reset", json={"email": email})
            taken.append(perf_counter() - started)
            assert (answer.status_code, answer.content) == (202, b"")
    known, unknown = (statistics.median(taken) for taken in timings.values())
    assert 0.67 < known / unknown < 1.5, (known, unknown)
    await letter_to(account.email, RESET)
    assert await until(lambda: _outbox_done(engine, nobody))
    assert letters_to(nobody) == []


async def test_an_unverified_account_signs_in_but_books_only_once_verified(
    client: Client, provider: OpenProvider
) -> None:
    customer = await sign_up(client, "customer", verified=False)
    me = await client.get("/api/me", headers=customer.headers)
    assert me.json()["email_verified"] is False
    booking = provider.booking(stockholm(days_ahead(20), 9))
    refused = await client.post("/api/bookings", json=booking, headers=customer.headers)
    assert refused.status_code == 403
    assert "verify your e-mail address" in refused.json()["detail"]
    order = {"category": "farrier", "latitude": 67.0, "longitude": 5.0}
    order |= {"earliest": str(days_ahead(3)), "latest": str(days_ahead(9))}
    refused = await client.post("/api/route-orders", json=order, headers=customer.headers)
    assert refused.status_code == 403

    letter = await letter_to(customer.email, "Bekräfta din e-postadress")
    token = link_token(letter)
    assert (await client.post("/api/auth/verify", json={"token": token})).status_code == 204
    assert (await client.get("/api/me", headers=customer.headers)).json()["email_verified"]
    booked = await client.post("/api/bookings", json=booking, headers=customer.headers)
    assert booked.status_code == 201
    assert (await client.post("/api/auth/verify", json={"token": token})).status_code == 400
    again = await client.post("/api/me/verification", headers=customer.headers)
    assert again.status_code == 409


async def test_the_verification_mail_comes_again_in_english_when_asked(client: Client) -> None:
    email = f"en-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "role": "customer", "language": "en"}
    assert (await client.post("/api/auth/register", json=body)).status_code == 201
    first = await letter_to(email, "Confirm your e-mail address")
    assert first["Content-Language"] == "en"
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.post("/api/me/verification", headers=headers)).status_code == 202
    second = await letter_to(email, "Confirm your e-mail address", count=2)
    assert link_token(second) == link_token(first)  # one token per address, still good
    assert (
        await client.post("/api/auth/verify", json={"token": link_token(second)})
    ).status_code == 204


async def test_booking_news_reach_the_other_party_by_mail_unless_turned_off(
    client: Client,
) -> None:
    owner = await sign_up(client, "provider", verified=True)
    provider = await open_provider(client, owner=owner)
    customer = await sign_up(client, "customer")
    start = stockholm(days_ahead(21), 10)
    booked = await client.post(
        "/api/bookings", json=provider.booking(start, horse_name="Stella"), headers=customer.headers
    )
    assert booked.status_code == 201
    letter = await letter_to(owner.email, "Ny bokning")
    assert letter["Subject"] == f"Ny bokning: Stella {start:%Y-%m-%d %H:%M}"
    assert "Bokbar" in text_of(letter)
    assert "Stella" in html_of(letter)

    off = await client.patch("/api/me", json={"email_notifications": False}, headers=owner.headers)
    assert off.status_code == 200
    assert off.json()["email_notifications"] is False
    booking_id = booked.json()["id"]
    cancelled = await client.post(f"/api/bookings/{booking_id}/cancel", headers=customer.headers)
    assert cancelled.status_code == 200
    notices = await client.get("/api/notifications", headers=owner.headers)
    assert [n["kind"] for n in notices.json()["items"]][:1] == ["booking_cancelled"]
    await asyncio.sleep(1.0)  # the relay polls every 0.25 s: time for a mail that must not be
    assert len(letters_to(owner.email, "Ny bokning")) == 1
    assert letters_to(owner.email, "Bokningen är avbokad") == []


async def test_preferences_refuse_an_empty_change_and_unknown_languages(client: Client) -> None:
    account = await sign_up(client, "customer")
    for body in ({}, {"language": "de"}, {"email_notifications": "yes"}):
        answer = await client.patch("/api/me", json=body, headers=account.headers)
        assert answer.status_code == 400, body
    english = await client.patch("/api/me", json={"language": "en"}, headers=account.headers)
    assert english.json()["language"] == "en"
