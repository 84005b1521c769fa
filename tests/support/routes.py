"""Route orders and routes as the route tests post them."""

import itertools
import random
from datetime import timedelta
from typing import Any

from app.settings import RoutePlanning
from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn
from tests.support.bookings import BOOKABLE_SPOT, Client, OpenProvider, days_ahead

ROUTES = "/api/routes"
DAY = days_ahead(12)
HOME = Point(BOOKABLE_SPOT["latitude"], BOOKABLE_SPOT["longitude"])
PLANNING = RoutePlanning()


async def orders_around(
    client: Client, customer: SignedIn, count: int, seed: int = 1, **fields: Any
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    placed = []
    for _ in range(count):
        body = {
            "category": "farrier",
            "latitude": HOME.latitude + rng.uniform(-0.3, 0.3),
            "longitude": HOME.longitude + rng.uniform(-0.6, 0.6),
            "earliest": (DAY - timedelta(days=2)).isoformat(),
            "latest": (DAY + timedelta(days=2)).isoformat(),
            **fields,
        }
        response = await client.post("/api/route-orders", json=body, headers=customer.headers)
        assert response.status_code == 201, response.text
        placed.append(response.json())
    return placed


def route_body(
    provider: OpenProvider, orders: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    return {
        "provider_id": provider.id,
        "date": DAY.isoformat(),
        "route_order_ids": [order["id"] for order in orders],
        **fields,
    }


async def planned(client: Client, provider: OpenProvider, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(ROUTES, json=body, headers=provider.owner.headers)
    assert response.status_code == 201, response.text
    route: dict[str, Any] = response.json()
    return route


def path_m(points: list[Point]) -> float:
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(points))
