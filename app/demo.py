"""A provider the demo map can sign in as, with tomorrow's route planned through the API.

`make run` runs `python -m app.demo` after loading the demo data: the first time it opens an
account (DEMO_EMAIL, DEMO_PASSWORD) with a provider in Stockholm offering every category,
and whenever that provider has no route for tomorrow, it plans one through the open orders
nearest it that can be visited then. Everything goes through the API's own handlers, in
process, as a client would; the seeded orders are wanted within three weeks of loading, so
the route gets shorter with the days and stops when none is left.
"""

import asyncio
import sys
from datetime import date, timedelta
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import from_env
from db.models import ServiceCategory

DEMO_EMAIL = "demo-provider@equinet.example"
DEMO_PASSWORD = "demo provider's route"
STOCKHOLM = {"latitude": 59.3294, "longitude": 18.0687}
DEMO_NAME = "Demo hästtjänst"
STOPS = 8
DEMO_REACH_KM = 50
"""The demo provider's service radius (the default): it claims no order beyond it."""
Client = AsyncTestClient[Litestar]


def say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr)


def _answer(response: httpx.Response, *expected: int) -> Any:
    if response.status_code not in expected:
        raise SystemExit(
            f"demo: {response.request.url} answered {response.status_code}: {response.text}"
        )
    return response.json() if response.content else None


async def _signed_in(client: Client) -> dict[str, str]:
    credentials = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    login = await client.post("/api/auth/login", json=credentials)
    if login.status_code == 401:
        say(f"opening the account {DEMO_EMAIL}")
        _answer(
            await client.post("/api/auth/register", json=credentials | {"role": "provider"}), 201
        )
        login = await client.post("/api/auth/login", json=credentials)
    token = _answer(login, 200)["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _provider(client: Client, headers: dict[str, str]) -> int:
    """The demo account's provider (found where it was opened, by its name), opened with a
    service of every category the first time."""
    here = {"lat": STOCKHOLM["latitude"], "lng": STOCKHOLM["longitude"], "radius_km": 0.01}
    nearby = _answer(await client.get("/api/providers/nearby", params=here), 200)
    for hit in nearby["items"]:
        if hit["business_name"] == DEMO_NAME:
            return int(hit["id"])
    body = {"business_name": DEMO_NAME, "city": "Stockholm", **STOCKHOLM}
    provider = _answer(await client.post("/api/providers", json=body, headers=headers), 201)
    for category in ServiceCategory:
        service = {
            "name": f"Demo {category}",
            "category": category,
            "duration_minutes": 45,
            "price": "800",
        }
        path = f"/api/providers/{provider['id']}/services"
        _answer(await client.post(path, json=service, headers=headers), 201)
    return int(provider["id"])


async def plan_tomorrow(client: Client) -> None:
    headers = await _signed_in(client)
    provider_id = await _provider(client, headers)
    day = (date.today() + timedelta(days=1)).isoformat()
    planned = _answer(await client.get("/api/routes", params={"date": day}, headers=headers), 200)
    if planned["items"]:
        say(f"{DEMO_EMAIL} has a route on {day} already")
        return
    params: dict[str, str | float] = {
        "lat": STOCKHOLM["latitude"],
        "lng": STOCKHOLM["longitude"],
        "radius_km": DEMO_REACH_KM,
        "limit": STOPS,
        "date": day,
    }
    orders = _answer(
        await client.get("/api/route-orders/available", params=params, headers=headers), 200
    )
    if not orders["items"]:
        say(f"no open order near Stockholm can be visited on {day}: no demo route")
        return
    draft = {
        "provider_id": provider_id,
        "date": day,
        "route_order_ids": [o["id"] for o in orders["items"]],
        "optimize": True,
    }
    route = _answer(await client.post("/api/routes", json=draft, headers=headers), 201)
    length_km = route["total_distance_m"] / 1000
    say(f"planned route {route['id']} on {day}: {len(route['stops'])} stops, {length_km:.1f} km")


async def main() -> None:
    async with AsyncTestClient(app=create_app(from_env())) as client:
        await plan_tomorrow(client)


if __name__ == "__main__":
    asyncio.run(main())
