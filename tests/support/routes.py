"""Route orders and routes as the route tests post them."""

import itertools
import random
from datetime import date, timedelta
from typing import Any

from app.settings import RoutePlanning
from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn
from tests.support.bookings import BOOKABLE_SPOT, Client, OpenProvider, days_ahead
from tests.support.day_check import DayRulesSeen, check_day

ROUTES = "/api/routes"
DAY = days_ahead(12)
HOME = Point(BOOKABLE_SPOT["latitude"], BOOKABLE_SPOT["longitude"])
PLANNING = RoutePlanning()


async def orders_around(
    client: Client,
    customer: SignedIn,
    count: int,
    seed: int = 1,
    spread: float = 0.2,
    **fields: Any,
) -> list[dict[str, Any]]:
    """Orders within `spread` degrees of latitude (twice that of longitude) of HOME."""
    rng = random.Random(seed)
    placed = []
    for _ in range(count):
        body = {
            "category": "farrier",
            "latitude": HOME.latitude + rng.uniform(-spread, spread),
            "longitude": HOME.longitude + rng.uniform(-2 * spread, 2 * spread),
            "earliest": (DAY - timedelta(days=2)).isoformat(),
            "latest": (DAY + timedelta(days=2)).isoformat(),
            **fields,
        }
        response = await client.post("/api/route-orders", json=body, headers=customer.headers)
        assert response.status_code == 201, response.text
        placed.append(response.json())
    return placed


async def placed(
    client: Client, customer: SignedIn, day: date = DAY, **fields: Any
) -> dict[str, Any]:
    """A new farrier order wanted on `day` (unless `fields` say otherwise)."""
    body = {
        "category": "farrier",
        "earliest": day.isoformat(),
        "latest": day.isoformat(),
        **fields,
    }
    response = await client.post("/api/route-orders", json=body, headers=customer.headers)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


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
    assert route.pop("unassigned") == [], "every order fits the day"
    return route


def path_m(points: list[Point]) -> float:
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(points))


# Windows of scattered orders, in days relative to the day asked about: ending the day
# before, ending on it, only on it, starting on it, around it, starting the day after.
WINDOWS = [(-6, -1), (-3, 0), (0, 0), (0, 4), (-2, 2), (1, 5)]


def scattered_bodies(
    seed: int, count: int, spot: Point, day: date, spread: tuple[float, float, float]
) -> list[dict[str, Any]]:
    """Route-order bodies around `spot`, up to `spread` = (latitude ±, longitude from,
    longitude to) degrees away: every window of WINDOWS in turn, farrier and vet in turn."""
    rng = random.Random(seed)
    latitude, west, east = spread
    bodies = []
    for n in range(count):
        before, after = WINDOWS[n % len(WINDOWS)]
        bodies.append(
            {
                "category": ("farrier", "vet")[n % 2],
                "latitude": spot.latitude + rng.uniform(-latitude, latitude),
                "longitude": spot.longitude + rng.uniform(west, east),
                "earliest": (day + timedelta(days=before)).isoformat(),
                "latest": (day + timedelta(days=after)).isoformat(),
            }
        )
    return bodies


FARRIER_VISIT = timedelta(minutes=60)


def assert_measured(route: dict[str, Any], order_ids: list[int]) -> None:
    """The route visits exactly these orders in this order, with positions, and keeps the
    clock by the independent check (tests.support.day_check)."""
    stops = route["stops"]
    assert [stop["route_order_id"] for stop in stops] == order_ids
    assert [stop["position"] for stop in stops] == list(range(len(order_ids)))
    check_day(route, DayRulesSeen(DAY), {order_id: {} for order_id in order_ids})
