"""Route orders: customers ask for visits, list theirs, and cancel them while open."""

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.route_orders.schemas import MAX_WINDOW_DAYS
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import Client, days_ahead, every_page

ORDERS = "/api/route-orders"


def order(**fields: Any) -> dict[str, Any]:
    return {
        "category": "farrier",
        "latitude": 59.8601,
        "longitude": 17.6402,
        "earliest": days_ahead(3).isoformat(),
        "latest": days_ahead(9).isoformat(),
        **fields,
    }


@pytest.fixture
async def customer(client: Client) -> SignedIn:
    return await sign_up(client, "customer")


async def placed(client: Client, customer: SignedIn, **fields: Any) -> dict[str, Any]:
    response = await client.post(ORDERS, json=order(**fields), headers=customer.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_order_with_coordinates_is_open_as_sent(
    client: Client, customer: SignedIn
) -> None:
    body = await placed(client, customer, notes="Två hästar, en skodd")
    assert {k: v for k, v in body.items() if k not in {"id", "created_at"}} == {
        "category": "farrier",
        "latitude": 59.8601,
        "longitude": 17.6402,
        "address": "",
        "earliest": days_ahead(3).isoformat(),
        "latest": days_ahead(9).isoformat(),
        "status": "open",
        "notes": "Två hästar, en skodd",
    }


async def test_an_order_with_an_address_is_geocoded(client: Client, customer: SignedIn) -> None:
    body = await placed(
        client, customer, latitude=None, longitude=None, address="Stallvägen 3, Uppsala"
    )
    assert (body["latitude"], body["longitude"], body["address"]) == (
        59.85882,
        17.63889,
        "Stallvägen 3, Uppsala",
    )


async def test_an_address_nobody_can_locate_is_422(client: Client, customer: SignedIn) -> None:
    body = order(latitude=None, longitude=None, address="Qwxz 12")
    response = await client.post(ORDERS, json=body, headers=customer.headers)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the address could not be located; send latitude and longitude instead"
    )


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"longitude": None}, "send latitude and longitude together"),
        ({"latitude": None, "longitude": None}, "send latitude and longitude, or an address"),
        ({"latitude": 90.5}, "latitude"),
        ({"category": "plumber"}, "category"),
        ({"earliest": days_ahead(5).isoformat(), "latest": days_ahead(4).isoformat()}, "before"),
        ({"latest": days_ahead(3 + MAX_WINDOW_DAYS).isoformat()}, f"at most {MAX_WINDOW_DAYS}"),
        ({"earliest": days_ahead(-9).isoformat(), "latest": days_ahead(-2).isoformat()}, "passed"),
        ({"earliest": "next week"}, "earliest"),
        ({"notes": "x" * 2001}, "notes"),
        ({"stable": "Norra"}, "stable"),
    ],
)
async def test_bad_orders_are_400(
    client: Client, customer: SignedIn, change: dict[str, Any], detail: str
) -> None:
    response = await client.post(ORDERS, json=order(**change), headers=customer.headers)
    assert response.status_code == 400, response.text
    assert detail in response.text


async def test_providers_do_not_order_visits(client: Client) -> None:
    provider = await sign_up(client, "provider")
    response = await client.post(ORDERS, json=order(), headers=provider.headers)
    assert response.status_code == 403


async def test_my_orders_newest_first_across_pages_and_nobody_elses(
    client: Client, customer: SignedIn
) -> None:
    mine = [(await placed(client, customer, notes=str(n)))["id"] for n in range(5)]
    someone_else = await sign_up(client, "customer")
    await placed(client, someone_else)
    listed = await every_page(client, customer, f"{ORDERS}/mine", {"limit": 2})
    assert [item["id"] for item in listed] == mine[::-1]


async def test_a_cursor_of_someone_elses_orders_is_400(client: Client, customer: SignedIn) -> None:
    for _ in range(2):
        await placed(client, customer)
    page = await client.get(f"{ORDERS}/mine", params={"limit": 1}, headers=customer.headers)
    stranger = await sign_up(client, "customer")
    response = await client.get(
        f"{ORDERS}/mine", params={"cursor": page.json()["next_cursor"]}, headers=stranger.headers
    )
    assert response.status_code == 400


async def test_an_open_order_is_cancelled_once(client: Client, customer: SignedIn) -> None:
    order_id = (await placed(client, customer))["id"]
    cancelled = await client.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    again = await client.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)
    assert again.status_code == 409
    assert again.json()["detail"] == f"route order {order_id} is cancelled: it can't be cancelled"


async def test_someone_elses_order_is_404_and_stays_open(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    order_id = (await placed(client, customer))["id"]
    stranger = await sign_up(client, "customer")
    response = await client.post(f"{ORDERS}/{order_id}/cancel", headers=stranger.headers)
    assert response.status_code == 404
    async with engine.connect() as connection:
        status = await connection.scalar(
            text("SELECT status::text FROM route_orders WHERE id = :id"), {"id": order_id}
        )
    assert status == "open"
