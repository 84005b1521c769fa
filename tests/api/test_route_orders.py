"""Route orders: customers ask for visits, list theirs, and cancel them while open."""

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.route_orders.schemas import MAX_WINDOW_DAYS
from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import Client, days_ahead, every_page
from tests.support.routes import scattered_bodies

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
        "arrive_after": None,
        "arrive_before": None,
        "horses": 1,
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
        (
            {
                "earliest": days_ahead(3).isoformat(),
                "latest": days_ahead(3 + MAX_WINDOW_DAYS).isoformat(),
            },
            f"at most {MAX_WINDOW_DAYS}",
        ),
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


# Open orders near a provider

AVAILABLE = f"{ORDERS}/available"
Params = dict[str, str | float]
# Inland Västerbotten, where no other test orders visits: only this module's orders show.
SPOT = Point(64.6, 18.7)
DAY = days_ahead(20)


@pytest.fixture
async def provider_account(client: Client) -> SignedIn:
    """A provider's account: browsing orders needs no provider of its own."""
    return await sign_up(client, "provider")


async def scattered_orders(
    client: Client, customer: SignedIn, engine: AsyncEngine, spot: Point = SPOT
) -> list[int]:
    """40 orders up to ~45 km from `spot`: windows before, around and after DAY, two
    categories, and some cancelled or planned."""
    ids, leaving = [], []
    for n, order in enumerate(scattered_bodies(10, 40, spot, DAY, (0.4, -0.8, 0.8))):
        body = await placed(client, customer, **order)
        ids.append(body["id"])
        if n % 7 == 3:
            leaving.append(body["id"])
    cancelled, planned = leaving[::2], leaving[1::2]
    for order_id in cancelled:
        await client.post(f"{ORDERS}/{order_id}/cancel", headers=customer.headers)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE route_orders SET status = 'planned' WHERE id = ANY(:ids)"),
            {"ids": planned},
        )
    return ids


def brute_force(
    orders: list[dict[str, Any]], spot: Point, radius_km: float, day: date, category: str | None
) -> list[tuple[int, float]]:
    """(id, distance) of the orders a provider at `spot` should see, in order."""
    hits = [
        (o["id"], haversine_m(spot, Point(o["latitude"], o["longitude"])))
        for o in orders
        if o["status"] == "open"
        and date.fromisoformat(o["earliest"]) <= day <= date.fromisoformat(o["latest"])
        and category in (None, o["category"])
    ]
    return sorted((h for h in hits if h[1] <= radius_km * 1000), key=lambda h: (h[1], h[0]))


# Each case at a spot of its own, farther from the others than its radius reaches.
@pytest.mark.parametrize(
    ("spot", "radius_km", "category"),
    [(SPOT, 30, None), (Point(66.1, 18.7), 100, "vet"), (Point(67.6, 18.7), 20, "farrier")],
)
async def test_available_orders_match_brute_force_across_pages(
    client: Client,
    customer: SignedIn,
    provider_account: SignedIn,
    engine: AsyncEngine,
    spot: Point,
    radius_km: float,
    category: str | None,
) -> None:
    await scattered_orders(client, customer, engine, spot)
    mine = await every_page(client, customer, f"{ORDERS}/mine", {"limit": 100})
    expected = brute_force(mine, spot, radius_km, DAY, category)
    params: Params = {
        "lat": spot.latitude,
        "lng": spot.longitude,
        "radius_km": radius_km,
        "date": DAY.isoformat(),
        "limit": 4,
        **({"category": category} if category else {}),
    }
    found = await every_page(client, provider_account, AVAILABLE, params)
    assert [item["id"] for item in found] == [order_id for order_id, _ in expected]
    assert [item["distance_m"] for item in found] == pytest.approx(
        [distance for _, distance in expected], rel=1e-9
    )
    assert expected, "the scattered orders should leave some to find"


async def test_an_available_order_shows_where_and_when_not_who(
    client: Client, customer: SignedIn, provider_account: SignedIn
) -> None:
    placed_order = await placed(
        client,
        customer,
        latitude=SPOT.latitude - 3,
        longitude=SPOT.longitude,
        address="Stallgatan 1",
        notes="Grind kod 1234",
        earliest=DAY.isoformat(),
        latest=DAY.isoformat(),
    )
    params: Params = {"lat": SPOT.latitude - 3, "lng": SPOT.longitude, "date": DAY.isoformat()}
    response = await client.get(AVAILABLE, params=params, headers=provider_account.headers)
    [item] = [i for i in response.json()["items"] if i["id"] == placed_order["id"]]
    assert item == {
        "id": placed_order["id"],
        "category": "farrier",
        "latitude": SPOT.latitude - 3,
        "longitude": SPOT.longitude,
        "earliest": DAY.isoformat(),
        "latest": DAY.isoformat(),
        "notes": "Grind kod 1234",
        "arrive_after": None,
        "arrive_before": None,
        "horses": 1,
        "distance_m": 0.0,
    }


NEAR_SPOT: Params = {"lat": SPOT.latitude, "lng": SPOT.longitude, "date": DAY.isoformat()}


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"lat": 90.5}, "lat"),
        ({"lng": -181}, "lng"),
        ({"radius_km": 0}, "radius_km"),
        ({"radius_km": 100.5}, "radius_km"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"date": "tomorrow"}, "date"),
        ({"category": "plumber"}, "category"),
        ({"cursor": "AAAA"}, "cursor is not valid"),
    ],
)
async def test_bad_available_queries_are_400(
    client: Client, provider_account: SignedIn, change: Params, detail: str
) -> None:
    response = await client.get(
        AVAILABLE, params=NEAR_SPOT | change, headers=provider_account.headers
    )
    assert response.status_code == 400, response.text
    assert detail in response.text


async def test_a_query_without_a_date_is_400(client: Client, provider_account: SignedIn) -> None:
    params: Params = {"lat": SPOT.latitude, "lng": SPOT.longitude}
    response = await client.get(AVAILABLE, params=params, headers=provider_account.headers)
    assert response.status_code == 400


async def test_a_cursor_of_another_day_is_400(
    client: Client, customer: SignedIn, provider_account: SignedIn, engine: AsyncEngine
) -> None:
    await scattered_orders(client, customer, engine)
    params: Params = NEAR_SPOT | {"limit": 1}
    page = await client.get(AVAILABLE, params=params, headers=provider_account.headers)
    cursor = page.json()["next_cursor"]
    assert cursor is not None
    other_day = params | {"date": (DAY + timedelta(days=1)).isoformat(), "cursor": cursor}
    response = await client.get(AVAILABLE, params=other_day, headers=provider_account.headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "cursor belongs to a different query"


async def test_customers_do_not_browse_orders(client: Client, customer: SignedIn) -> None:
    response = await client.get(AVAILABLE, params=NEAR_SPOT, headers=customer.headers)
    assert response.status_code == 403
    assert (await client.get(AVAILABLE, params=NEAR_SPOT)).status_code == 401
