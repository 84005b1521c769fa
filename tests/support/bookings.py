"""A bookable provider, and times on its clock, for the booking tests."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from geo.distance import Point
from tests.support.accounts import SignedIn, sign_up

Client = AsyncTestClient[Litestar]
STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Far out in the Norwegian Sea, away from the spots that search tests keep to themselves.
BOOKABLE_SPOT = {"latitude": 67.0, "longitude": 5.0}


@dataclass(frozen=True)
class OpenProvider:
    owner: SignedIn
    id: int
    service_id: int

    def booking(self, start: datetime, **fields: Any) -> dict[str, Any]:
        return {
            "provider_id": self.id,
            "service_id": self.service_id,
            "start": start.isoformat(),
            "horse_name": "Blixten",
            **fields,
        }


async def open_provider(
    client: httpx.AsyncClient,
    duration_minutes: int = 60,
    opens: str = "08:00",
    closes: str = "17:00",
    owner: SignedIn | None = None,
    spot: Mapping[str, float] = BOOKABLE_SPOT,
) -> OpenProvider:
    """A new provider at `spot` with one service, open every day at these hours, Stockholm
    time; of a new owner unless given one."""
    owner = owner or await sign_up(client, "provider")
    created = await client.post(
        "/api/providers",
        json={"business_name": "Bokbar", **spot},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    provider_id = created.json()["id"]
    service = await client.post(
        f"/api/providers/{provider_id}/services",
        json={
            "name": "Skoning",
            "category": "farrier",
            "duration_minutes": duration_minutes,
            "price": "900",
        },
        headers=owner.headers,
    )
    assert service.status_code == 201, service.text
    weekly = [{"weekday": day, "opens": opens, "closes": closes} for day in range(7)]
    hours = await client.put(
        f"/api/providers/{provider_id}/availability",
        json={"timezone": "Europe/Stockholm", "weekly": weekly},
        headers=owner.headers,
    )
    assert hours.status_code == 200, hours.text
    return OpenProvider(owner, provider_id, service.json()["id"])


async def request_booking(
    client: Client, customer: SignedIn, provider: OpenProvider, start: datetime
) -> httpx.Response:
    return await client.post(
        "/api/bookings", json=provider.booking(start), headers=customer.headers
    )


async def booked(
    client: Client, customer: SignedIn, provider: OpenProvider, start: datetime
) -> int:
    """The id of a new booking that must succeed."""
    response = await request_booking(client, customer, provider, start)
    assert response.status_code == 201, response.text
    booking_id: int = response.json()["id"]
    return booking_id


async def booked_at(
    client: Client, customer: SignedIn, provider: OpenProvider, start: datetime, at: Point
) -> int:
    """The id of a new booking at a stable that must succeed."""
    body = provider.booking(start, latitude=at.latitude, longitude=at.longitude)
    response = await client.post("/api/bookings", json=body, headers=customer.headers)
    assert response.status_code == 201, response.text
    booking_id: int = response.json()["id"]
    return booking_id


async def every_page(
    client: httpx.AsyncClient, user: SignedIn, path: str, params: Mapping[str, str | float]
) -> list[dict[str, Any]]:
    """The items of every page of a user's list, following its cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await client.get(path, params=query, headers=user.headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def stockholm(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), STOCKHOLM)


def days_ahead(days: int) -> date:
    return datetime.now(STOCKHOLM).date() + timedelta(days=days)


def next_dst_change(forward: bool) -> date:
    """The next date (from two days ahead) on which Stockholm's clocks go forward (a 23-hour
    day), or back (a 25-hour day)."""
    day = days_ahead(2)
    while True:
        length_s = stockholm(day + timedelta(days=1), 0).timestamp() - stockholm(day, 0).timestamp()
        if (length_s < 86_400) if forward else (length_s > 86_400):
            return day
        day += timedelta(days=1)
