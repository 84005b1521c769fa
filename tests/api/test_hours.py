"""Exceptions to a provider's weekly hours: one per date, the owner's to set, public to read."""

from datetime import timedelta
from typing import Any

import pytest

from tests.support.accounts import sign_up
from tests.support.bookings import Client, OpenProvider, days_ahead
from tests.support.suite import BOOKING_HORIZON_DAYS

DAY = days_ahead(10)


def _path(provider: OpenProvider) -> str:
    return f"/api/providers/{provider.id}/availability/exceptions"


async def listed(client: Client, provider: OpenProvider) -> list[dict[str, Any]]:
    response = await client.get(_path(provider))
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_exceptions_are_listed_by_date_in_the_shape_they_were_sent(
    client: Client, provider: OpenProvider
) -> None:
    later = {"date": (DAY + timedelta(days=3)).isoformat(), "closed": True}
    sooner = {"date": DAY.isoformat(), "opens": "10:00", "closes": "12:30"}
    for body in (later, sooner):
        response = await client.post(_path(provider), json=body, headers=provider.owner.headers)
        assert response.status_code == 201, response.text
        assert response.json() == body
    assert await listed(client, provider) == [sooner, later]


async def test_a_second_exception_for_a_date_replaces_the_first(
    client: Client, provider: OpenProvider
) -> None:
    for body in (
        {"date": DAY.isoformat(), "closed": True},
        {"date": DAY.isoformat(), "opens": "13:00", "closes": "15:00"},
    ):
        response = await client.post(_path(provider), json=body, headers=provider.owner.headers)
        assert response.status_code == 201, response.text
    assert await listed(client, provider) == [
        {"date": DAY.isoformat(), "opens": "13:00", "closes": "15:00"}
    ]


async def test_past_exceptions_are_not_listed(client: Client, provider: OpenProvider) -> None:
    yesterday = days_ahead(-1)
    response = await client.post(
        _path(provider),
        json={"date": yesterday.isoformat(), "closed": True},
        headers=provider.owner.headers,
    )
    assert response.status_code == 201, response.text
    assert await listed(client, provider) == []


@pytest.mark.parametrize(
    "body",
    [
        {"date": DAY.isoformat()},
        {"date": DAY.isoformat(), "closed": True, "opens": "10:00", "closes": "12:00"},
        {"date": DAY.isoformat(), "opens": "10:00"},
        {"date": DAY.isoformat(), "opens": "12:00", "closes": "10:00"},
        {"date": DAY.isoformat(), "opens": "25:00", "closes": "26:00"},
        {"date": "2026-02-30", "closed": True},
        {"date": days_ahead(-5).isoformat(), "closed": True},
        {"date": days_ahead(BOOKING_HORIZON_DAYS + 5).isoformat(), "closed": True},
        {"date": DAY.isoformat(), "closed": True, "reason": "holiday"},
    ],
)
async def test_bad_exceptions_are_400(
    client: Client, provider: OpenProvider, body: dict[str, Any]
) -> None:
    response = await client.post(_path(provider), json=body, headers=provider.owner.headers)
    assert response.status_code == 400, response.text


async def test_only_the_owner_sets_or_removes_exceptions(
    client: Client, provider: OpenProvider
) -> None:
    body = {"date": DAY.isoformat(), "closed": True}
    intruder = await sign_up(client, "provider")
    refused = await client.post(_path(provider), json=body, headers=intruder.headers)
    assert refused.status_code == 404
    assert await listed(client, provider) == []

    await client.post(_path(provider), json=body, headers=provider.owner.headers)
    removal = await client.delete(f"{_path(provider)}/{DAY}", headers=intruder.headers)
    assert removal.status_code == 404
    assert len(await listed(client, provider)) == 1
    anonymous = await client.post(_path(provider), json=body)
    assert anonymous.status_code == 401


async def test_unknown_providers_have_no_exceptions(client: Client) -> None:
    assert (await client.get("/api/providers/999999999/availability/exceptions")).status_code == 404
