"""No hoarding, no spam: a provider claims only orders within its reach, at most a day's
worth; no route for a day that has passed, no order beyond the horizon; and planning and
unplanning over and over tells the customer once."""

from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import RateLimits, RoutePlanning, Settings
from tests.api.test_rate_limits import app_limited_by
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import Client, OpenProvider, days_ahead, open_provider
from tests.support.routes import DAY, HOME, ROUTES, orders_around, planned, route_body
from tests.support.suite import BOOKING_HORIZON_DAYS, UNLIMITED


def _north_of_home(km: float) -> dict[str, Any]:
    return {"latitude": HOME.latitude + km / 111.195, "longitude": HOME.longitude}


async def _status_of(client: Client, provider: OpenProvider, orders: list[dict[str, Any]]) -> int:
    response = await client.post(
        ROUTES, json=route_body(provider, orders), headers=provider.owner.headers
    )
    return response.status_code


async def _open_orders(engine: AsyncEngine, orders: list[dict[str, Any]]) -> int:
    async with engine.connect() as connection:
        count: int = await connection.scalar(
            text("SELECT count(*) FROM route_orders WHERE id = ANY(:ids) AND status = 'open'"),
            {"ids": [order["id"] for order in orders]},
        )
    return count


async def test_orders_beyond_the_providers_service_radius_are_not_claimed(
    client: Client, provider: OpenProvider, customer: SignedIn, engine: AsyncEngine
) -> None:
    near = await orders_around(client, customer, 1, **_north_of_home(45))
    far = await orders_around(client, customer, 1, **_north_of_home(55))  # radius 50 km
    response = await client.post(
        ROUTES, json=route_body(provider, near + far), headers=provider.owner.headers
    )
    assert response.status_code == 201, response.text
    route = response.json()
    assert [stop["route_order_id"] for stop in route["stops"]] == [near[0]["id"]]
    assert route["unassigned"] == [{"route_order_id": far[0]["id"], "reason": "too_far"}]
    assert await _open_orders(engine, near + far) == 1  # the far one stays open


async def test_no_provider_reaches_beyond_the_deployments_limit(
    client: Client, customer: SignedIn
) -> None:
    provider = await open_provider(client)
    wide = await client.patch(
        f"/api/providers/{provider.id}",
        json={"service_radius_km": 500},
        headers=provider.owner.headers,
    )
    assert wide.status_code == 200, wide.text
    limit = RoutePlanning().max_radius_km
    far = await orders_around(client, customer, 1, **_north_of_home(limit + 20))
    refused = await client.post(
        ROUTES, json=route_body(provider, far), headers=provider.owner.headers
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["extra"] == {
        "unassigned": [{"route_order_id": far[0]["id"], "reason": "too_far"}]
    }


async def test_a_providers_routes_hold_at_most_a_days_worth_of_orders(
    client: Client, customer: SignedIn
) -> None:
    provider = await open_provider(client, duration_minutes=5, opens="00:00", closes="23:59")
    most = RoutePlanning().max_orders_per_day
    orders = await orders_around(client, customer, most + 1, seed=30, spread=0.05)
    assert await _status_of(client, provider, orders[:most]) == 201
    refused = await client.post(
        ROUTES, json=route_body(provider, orders[most:]), headers=provider.owner.headers
    )
    assert refused.status_code == 422, refused.text
    assert f"at most {most} orders a day" in refused.json()["detail"]


async def test_a_route_for_a_day_that_has_passed_is_422(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    yesterday = days_ahead(-1)
    orders = await orders_around(
        client, customer, 1, earliest=yesterday.isoformat(), latest=DAY.isoformat()
    )
    body = route_body(provider, orders, date=yesterday.isoformat())
    refused = await client.post(ROUTES, json=body, headers=provider.owner.headers)
    assert refused.status_code == 422, refused.text
    assert "has passed" in refused.json()["detail"]


async def test_an_order_wanted_beyond_the_booking_horizon_is_400(
    client: Client, customer: SignedIn
) -> None:
    body = {
        "category": "farrier",
        "latitude": HOME.latitude,
        "longitude": HOME.longitude,
        "earliest": days_ahead(BOOKING_HORIZON_DAYS - 5).isoformat(),
        "latest": days_ahead(BOOKING_HORIZON_DAYS + 5).isoformat(),
    }
    refused = await client.post("/api/route-orders", json=body, headers=customer.headers)
    assert refused.status_code == 400, refused.text
    assert "booking horizon" in refused.json()["detail"]
    body["latest"] = "9999-12-31"
    assert (
        await client.post("/api/route-orders", json=body, headers=customer.headers)
    ).status_code == 400


async def _notices(client: Client, customer: SignedIn, order_id: int) -> list[dict[str, Any]]:
    response = await client.get("/api/notifications", headers=customer.headers)
    assert response.status_code == 200, response.text
    return [n for n in response.json()["items"] if n["payload"].get("route_order_id") == order_id]


async def test_planning_and_unplanning_over_and_over_tells_the_customer_once(
    client: Client, provider: OpenProvider
) -> None:
    customer = await sign_up(client, "customer")
    [order] = await orders_around(client, customer, 1)
    for _ in range(4):
        route = await planned(client, provider, route_body(provider, [order]))
        dropped = await client.patch(
            f"{ROUTES}/{route['id']}", json={"route_order_ids": []}, headers=provider.owner.headers
        )
        assert dropped.status_code == 200, dropped.text
    [notice] = await _notices(client, customer, order["id"])
    assert notice["kind"] == "route_unplanned"  # the latest news, not the first
    assert notice["is_read"] is False
    await planned(client, provider, route_body(provider, [order]))
    [notice] = await _notices(client, customer, order["id"])
    assert notice["kind"] == "route_planned"


async def test_plans_and_re_plans_past_the_users_limit_are_429(
    settings: Settings, redis_url: str
) -> None:
    """Plans and re-plans share one budget per user (30 an hour in production)."""
    limits = msgspec.structs.replace(UNLIMITED, route_plan="3/hour")
    async with app_limited_by(settings, redis_url, limits) as client:
        provider = await open_provider(client)
        customer = await sign_up(client, "customer")
        orders = await orders_around(client, customer, 3, seed=33)
        route = await planned(client, provider, route_body(provider, orders[:1]))
        statuses = [
            (
                await client.patch(
                    f"{ROUTES}/{route['id']}",
                    json={"route_order_ids": [orders[0]["id"]]},
                    headers=provider.owner.headers,
                )
            ).status_code
            for _ in range(2)
        ]
        refused = await client.post(
            ROUTES, json=route_body(provider, orders[1:2]), headers=provider.owner.headers
        )
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert RateLimits().route_plan == "30/hour"
