"""Route orders and routes as the route tests post them."""

import itertools
import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

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
    """The route visits exactly these orders in this order, with positions, legs, total and
    arrivals as the great circle and the day's pace give them."""
    stops = route["stops"]
    assert [stop["route_order_id"] for stop in stops] == order_ids
    assert [stop["position"] for stop in stops] == list(range(len(order_ids)))
    points = [HOME, *(Point(stop["latitude"], stop["longitude"]) for stop in stops)]
    legs = [haversine_m(a, b) for a, b in itertools.pairwise(points)]
    assert [stop["leg_distance_m"] for stop in stops] == pytest.approx(legs, rel=1e-9)
    assert route["total_distance_m"] == pytest.approx(sum(legs), rel=1e-9, abs=1e-9)
    clock = datetime.combine(DAY, PLANNING.day_start, ZoneInfo("Europe/Stockholm"))
    for stop, leg in zip(stops, legs, strict=True):
        clock += timedelta(hours=leg / 1000 / PLANNING.speed_kmh)
        assert datetime.fromisoformat(stop["eta"]) == pytest.approx(clock, abs=timedelta(seconds=1))
        clock += FARRIER_VISIT
