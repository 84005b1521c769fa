"""Notifications: written with the booking change they report, listed newest first."""

from datetime import datetime
from typing import Any

import pytest

from tests.support.accounts import SignedIn
from tests.support.bookings import (
    Client,
    OpenProvider,
    booked,
    days_ahead,
    every_page,
    request_booking,
    stockholm,
)

DAY = days_ahead(20)


async def notifications(
    client: Client, user: SignedIn, **params: str | int
) -> list[dict[str, Any]]:
    return await every_page(client, user, "/api/notifications", params)


def when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


async def book(client: Client, customer: SignedIn, provider: OpenProvider, hour: int) -> int:
    return await booked(client, customer, provider, stockholm(DAY, hour))


async def test_each_booking_change_notifies_the_other_party(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    made = await request_booking(client, customer, provider, stockholm(DAY, 10))
    booking_id = made.json()["id"]
    [requested] = await notifications(client, provider.owner)
    assert requested["kind"] == "booking_requested"
    assert requested["is_read"] is False
    payload = requested["payload"]
    assert {**payload, "start": when(payload["start"]), "end": when(payload["end"])} == {
        "booking_id": booking_id,
        "provider_id": provider.id,
        "service_id": provider.service_id,
        "start": when(made.json()["start"]),
        "end": when(made.json()["end"]),
        "horse_name": "Blixten",
        "status": "pending",
    }
    assert await notifications(client, customer) == []

    await client.post(f"/api/bookings/{booking_id}/confirm", headers=provider.owner.headers)
    await client.post(f"/api/bookings/{booking_id}/cancel", headers=customer.headers)
    assert [n["kind"] for n in await notifications(client, customer)] == ["booking_confirmed"]
    assert [n["kind"] for n in await notifications(client, provider.owner)] == [
        "booking_cancelled",
        "booking_requested",
    ]


async def test_a_provider_cancelling_notifies_the_customer(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_id = await book(client, customer, provider, 10)
    await client.post(f"/api/bookings/{booking_id}/cancel", headers=provider.owner.headers)
    [cancelled] = await notifications(client, customer)
    assert cancelled["kind"] == "booking_cancelled"
    assert cancelled["payload"]["status"] == "cancelled"


async def test_pages_run_newest_first_without_gaps_or_repeats(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_ids = [await book(client, customer, provider, hour) for hour in range(8, 15)]
    listed = await notifications(client, provider.owner, limit=2)
    assert [n["payload"]["booking_id"] for n in listed] == booking_ids[::-1]
    created = [n["created_at"] for n in listed]
    assert created == sorted(created, reverse=True)


async def test_unread_filter_mark_one_and_mark_all(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    for hour in (9, 10, 11):
        await book(client, customer, provider, hour)
    newest, *older = await notifications(client, provider.owner)
    read = await client.post(
        f"/api/notifications/{newest['id']}/read", headers=provider.owner.headers
    )
    assert read.status_code == 204
    unread = await notifications(client, provider.owner, unread="true")
    assert [n["id"] for n in unread] == [n["id"] for n in older]

    marked = await client.post("/api/notifications/read-all", headers=provider.owner.headers)
    assert marked.status_code == 200
    assert marked.json() == {"updated": 2}
    assert await notifications(client, provider.owner, unread="true") == []
    assert len(await notifications(client, provider.owner)) == 3


async def test_someone_elses_notification_is_404_and_stays_unread(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    await book(client, customer, provider, 10)
    [notice] = await notifications(client, provider.owner)
    taken = await client.post(f"/api/notifications/{notice['id']}/read", headers=customer.headers)
    assert taken.status_code == 404
    assert (await client.post("/api/notifications/read-all", headers=customer.headers)).json() == {
        "updated": 0
    }
    [still] = await notifications(client, provider.owner, unread="true")
    assert still["id"] == notice["id"]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"cursor": "forged"}, {"unread": "maybe"}]
)
async def test_bad_list_parameters_are_400(
    client: Client, customer: SignedIn, params: dict[str, str | int]
) -> None:
    response = await client.get("/api/notifications", params=params, headers=customer.headers)
    assert response.status_code == 400, response.text


async def test_a_cursor_of_the_unread_list_is_not_one_of_the_full_list(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    for hour in (9, 10):
        await book(client, customer, provider, hour)
    page = await client.get(
        "/api/notifications", params={"unread": "true", "limit": 1}, headers=provider.owner.headers
    )
    response = await client.get(
        "/api/notifications",
        params={"cursor": page.json()["next_cursor"]},
        headers=provider.owner.headers,
    )
    assert response.status_code == 400


async def test_notifications_need_an_account(client: Client) -> None:
    assert (await client.get("/api/notifications")).status_code == 401


async def test_a_notification_never_names_the_customer_by_email(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    await book(client, customer, provider, 10)
    [notice] = await notifications(client, provider.owner)
    assert customer.email not in str(notice)
    assert set(notice) == {"id", "kind", "payload", "is_read", "created_at"}
