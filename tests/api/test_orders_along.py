"""Orders along a route: open orders within a corridor around the route's line, ranked by
the detour a visit would add, against a brute force by great circle in the test."""

import itertools
import math
from datetime import date
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from app.settings import Settings
from geo.distance import EARTH_RADIUS_M, Point, haversine_m
from tests.support.accounts import SignedIn
from tests.support.bookings import Client, OpenProvider, days_ahead, every_page, open_provider
from tests.support.routes import ROUTES, placed, planned, route_body, scattered_bodies

# Inland Finland, where no other test asks for visits: only this module's orders show.
SPOT = Point(63.2, 27.6)
DAY = days_ahead(25)


def along_url(route: dict[str, Any]) -> str:
    return f"{ROUTES}/{route['id']}/nearby-orders"


async def route_near(
    client: Client, provider: OpenProvider, customer: SignedIn, spot: Point
) -> dict[str, Any]:
    """A route from `spot` east through four stops, kept in that order."""
    stops = [
        await placed(
            client,
            customer,
            DAY,
            latitude=spot.latitude + (0.05 if n % 2 else -0.05),
            longitude=spot.longitude + 0.2 * (n + 1),
        )
        for n in range(4)
    ]
    start = {"latitude": spot.latitude, "longitude": spot.longitude}
    body = route_body(provider, stops, optimize=False, start=start) | {"date": DAY.isoformat()}
    return await planned(client, provider, body)


async def scattered_orders(
    client: Client, customer: SignedIn, engine: AsyncEngine, spot: Point
) -> None:
    """90 orders around the route's area: windows that end the day before, hold the day or
    start the day after, two categories, some cancelled and some in another's route."""
    cancelled, rivals = [], []
    for n, body in enumerate(scattered_bodies(31, 90, spot, DAY, (0.3, -0.3, 1.2))):
        order = await placed(client, customer, DAY, **body)
        wanted = body["earliest"] <= DAY.isoformat() <= body["latest"]
        if n % 9 == 2:
            cancelled.append(order["id"])
        elif n % 9 == 4 and wanted and body["category"] == "farrier":
            rivals.append(order)
    for order_id in cancelled:
        await client.post(f"/api/route-orders/{order_id}/cancel", headers=customer.headers)
    rival = await open_provider(client)
    start = {"latitude": spot.latitude, "longitude": spot.longitude}
    await planned(client, rival, route_body(rival, rivals, start=start) | {"date": DAY.isoformat()})
    async with engine.connect() as connection:
        left = await connection.scalar(
            text("SELECT count(*) FROM route_orders WHERE status = 'planned' AND id = ANY(:ids)"),
            {"ids": [order["id"] for order in rivals]},
        )
    assert left == len(rivals) > 0


def _unit(point: Point) -> tuple[float, float, float]:
    lat, lng = math.radians(point.latitude), math.radians(point.longitude)
    return (math.cos(lat) * math.cos(lng), math.cos(lat) * math.sin(lng), math.sin(lat))


def _cross(u: tuple[float, ...], v: tuple[float, ...]) -> tuple[float, float, float]:
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


def _dot(u: tuple[float, ...], v: tuple[float, ...]) -> float:
    return sum(a * b for a, b in zip(u, v, strict=True))


def to_arc_m(point: Point, a: Point, b: Point) -> float:
    """Distance from the point to the great-circle arc a→b: across the arc where the point
    lies beside it, else to the nearer end."""
    ends = min(haversine_m(point, a), haversine_m(point, b))
    if a == b:
        return ends
    normal = _cross(_unit(a), _unit(b))
    norm = math.sqrt(_dot(normal, normal))
    normal = (normal[0] / norm, normal[1] / norm, normal[2] / norm)
    p = _unit(point)
    across = _dot(p, normal)
    foot = tuple(c - across * n for c, n in zip(p, normal, strict=True))
    beside = _dot(_cross(_unit(a), foot), normal) >= 0 and _dot(_cross(foot, _unit(b)), normal) >= 0
    return abs(math.asin(across)) * EARTH_RADIUS_M if beside else ends


def path_m(points: list[Point]) -> float:
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(points))


def brute_force(
    orders: list[dict[str, Any]],
    route: dict[str, Any],
    corridor_km: float,
    category: str | None,
) -> list[dict[str, Any]]:
    """What the route's provider should be offered, in order, with distances and detours."""
    start = Point(route["start"]["latitude"], route["start"]["longitude"])
    stops = [Point(s["latitude"], s["longitude"]) for s in route["stops"]]
    path = [start, *stops]
    day = date.fromisoformat(route["date"])
    offered = []
    for order in orders:
        point = Point(order["latitude"], order["longitude"])
        if not (
            order["status"] == "open"
            and date.fromisoformat(order["earliest"]) <= day <= date.fromisoformat(order["latest"])
            and category in (None, order["category"])
        ):
            continue
        distance = min(to_arc_m(point, a, b) for a, b in itertools.pairwise(path))
        if distance > corridor_km * 1000:
            continue
        detours = [
            path_m([*path[: n + 1], point, *path[n + 1 :]]) - path_m(path)
            for n in range(len(stops) + 1)
        ]
        detour = min(detours)
        offered.append(
            {"id": order["id"], "distance_m": distance, "detour_m": detour, "detours": detours}
        )
    return sorted(offered, key=lambda o: (o["detour_m"], o["id"]))


@pytest.mark.parametrize(
    ("spot", "corridor_km", "category", "limit"),
    [
        (SPOT, 10, None, 100),
        (Point(SPOT.latitude + 2, SPOT.longitude), 25, "vet", 5),
        (Point(SPOT.latitude + 4, SPOT.longitude), 6, "farrier", 100),
    ],
)
async def test_orders_along_a_route_match_brute_force(
    client: Client,
    provider: OpenProvider,
    customer: SignedIn,
    engine: AsyncEngine,
    spot: Point,
    corridor_km: float,
    category: str | None,
    limit: int,
) -> None:
    route = await route_near(client, provider, customer, spot)
    await scattered_orders(client, customer, engine, spot)
    mine = await every_page(client, customer, "/api/route-orders/mine", {"limit": 100})
    expected = brute_force(mine, route, corridor_km, category)
    params = {"corridor_km": corridor_km, "limit": limit} | (
        {"category": category} if category else {}
    )
    response = await client.get(along_url(route), params=params, headers=provider.owner.headers)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["truncated"] is False
    assert [o["id"] for o in found["items"]] == [o["id"] for o in expected[:limit]]
    for item, want in zip(found["items"], expected, strict=False):
        assert item["distance_m"] == pytest.approx(want["distance_m"], rel=1e-6, abs=1e-3)
        assert item["detour_m"] == pytest.approx(want["detour_m"], rel=1e-9, abs=1e-6)
        assert item["travel"] == "great_circle"  # no road network there
        assert want["detours"][item["position"]] == pytest.approx(want["detour_m"], abs=1e-6)
    assert len(expected) > 2, "the scattered orders should leave some to find"
    beyond = brute_force(mine, route, 1000, category)
    assert len(beyond) > len(expected), "and some outside the corridor to leave out"


async def test_an_order_along_a_route_shows_where_when_and_the_detour_not_who(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    spot = Point(SPOT.latitude - 2, SPOT.longitude)
    route = await route_near(client, provider, customer, spot)
    first = route["stops"][0]
    order = await placed(
        client,
        customer,
        DAY,
        latitude=first["latitude"],
        longitude=first["longitude"],
        notes="Box 3",
    )
    response = await client.get(along_url(route), headers=provider.owner.headers)
    [item] = [i for i in response.json()["items"] if i["id"] == order["id"]]
    assert item == {
        "id": order["id"],
        "category": "farrier",
        "latitude": first["latitude"],
        "longitude": first["longitude"],
        "earliest": DAY.isoformat(),
        "latest": DAY.isoformat(),
        "notes": "Box 3",
        "arrive_after": None,
        "arrive_before": None,
        "horses": 1,
        "distance_m": 0,
        "detour_m": 0,
        "position": 0,
        "travel": "great_circle",
    }


async def test_past_the_orders_it_weighs_the_answer_says_truncated(
    settings: Settings, customer: SignedIn, client: Client, provider: OpenProvider
) -> None:
    spot = Point(SPOT.latitude - 4, SPOT.longitude)
    route = await route_near(client, provider, customer, spot)
    near = [
        await placed(client, customer, DAY, latitude=spot.latitude, longitude=spot.longitude + d)
        for d in (0.01, 0.02, 0.03)
    ]
    routes = msgspec.structs.replace(settings.routes, corridor_weighed=2)
    app = create_app(msgspec.structs.replace(settings, routes=routes))
    async with AsyncTestClient(app=app) as narrow:
        response = await narrow.get(along_url(route), headers=provider.owner.headers)
    body = response.json()
    assert body["truncated"] is True
    assert {item["id"] for item in body["items"]} == {near[0]["id"], near[1]["id"]}


@pytest.mark.parametrize(
    "params",
    [
        {"corridor_km": 0},
        {"corridor_km": 25.5},
        {"corridor_km": "wide"},
        {"limit": 0},
        {"limit": 101},
        {"category": "plumber"},
    ],
)
async def test_bad_corridors_are_400(
    client: Client, provider: OpenProvider, params: dict[str, Any]
) -> None:
    response = await client.get(
        f"{ROUTES}/1/nearby-orders", params=params, headers=provider.owner.headers
    )
    assert response.status_code == 400, response.text
    assert next(iter(params)) in response.text


async def test_someone_elses_route_has_no_orders_along_it(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    route = await route_near(client, provider, customer, Point(SPOT.latitude - 6, SPOT.longitude))
    stranger = await open_provider(client)
    response = await client.get(along_url(route), headers=stranger.owner.headers)
    assert response.status_code == 404
    as_customer = await client.get(along_url(route), headers=customer.headers)
    assert as_customer.status_code == 403
