"""Providers the demo map can sign in as, with tomorrow's routes planned through the API.

`make run` runs `python -m app.demo` after loading the demo data and the sample road
network: the first time it opens an account (DEMO_EMAIL, DEMO_PASSWORD) with a provider in
Stockholm offering every category and a farrier in central Helsinki, both open
08:00-17:00 every day. Whenever the Stockholm provider has no route for tomorrow, a demo customer
books it at midday, and it plans a day through the open orders nearest it that can be
visited then, all but the farthest: around the booking, with its lunch break; then it
looks along the route for an open order and inserts the one that adds least. Whenever the
Helsinki provider has none, the demo customer orders visits to stables in the streets of
the sample network and the provider plans them: a route driven on the roads, one-way
streets and all. Everything goes through the API's own handlers, in process, as a client
would; the seeded orders are wanted within three weeks of loading, so the Stockholm route
gets shorter with the days and stops when none is left.
"""

import asyncio
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import from_env
from db.account_tokens import account_token_key, verification_token
from db.models import ServiceCategory

DEMO_EMAIL = "demo-provider@equinet.example"
DEMO_PASSWORD = "demo provider's route"
DEMO_CUSTOMER = "demo-customer@equinet.example"
BOOKED_AT = time(12)
"""Tomorrow's booking, local time: the day is planned around it."""
BOOKED_STABLE = {"latitude": 59.37, "longitude": 18.0}
ALONG_KM = 25
"""How far from the planned route's line the demo looks for an order to insert."""


@dataclass(frozen=True)
class Site:
    """Where a demo provider works from."""

    name: str
    city: str
    location: dict[str, float]
    timezone: str
    categories: tuple[ServiceCategory, ...] = tuple(ServiceCategory)


STOCKHOLM = Site(
    "Demo hästtjänst", "Stockholm", {"latitude": 59.3294, "longitude": 18.0687}, "Europe/Stockholm"
)
HELSINKI = Site(
    "Demo hevospalvelu",
    "Helsinki",
    {"latitude": 60.1699, "longitude": 24.9384},
    "Europe/Helsinki",
    (ServiceCategory.farrier,),
)
HELSINKI_STABLES = [
    (60.1745, 24.9410),
    (60.1660, 24.9480),
    (60.1770, 24.9500),
    (60.1690, 24.9520),
    (60.1725, 24.9365),
    (60.1655, 24.9400),
]
"""In the streets of the sample road network (db.roads: central Helsinki)."""
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


async def _verify(client: Client, secret_key: str, user_id: int, email: str) -> None:
    """The demo accounts' addresses lead nowhere: they are verified with the token their
    verification mail carries, made from the server's key as the worker makes it."""
    token = verification_token(account_token_key(secret_key), user_id, email)
    _answer(await client.post("/api/auth/verify", json={"token": token}), 204)


async def _signed_in(
    client: Client, secret_key: str, email: str = DEMO_EMAIL, role: str = "provider"
) -> dict[str, str]:
    credentials = {"email": email, "password": DEMO_PASSWORD}
    login = await client.post("/api/auth/login", json=credentials)
    if login.status_code == 401:
        say(f"opening the account {email}")
        body = credentials | {"role": role}
        account = _answer(await client.post("/api/auth/register", json=body), 201)
        await _verify(client, secret_key, account["id"], email)
        login = await client.post("/api/auth/login", json=credentials)
    token = _answer(login, 200)["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _provider(client: Client, headers: dict[str, str], site: Site) -> int:
    """The demo account's provider at the site (found where it was opened, by its name),
    opened with a service of every category the first time."""
    at = site.location
    here = {"lat": at["latitude"], "lng": at["longitude"], "radius_km": 0.01}
    nearby = _answer(await client.get("/api/providers/nearby", params=here), 200)
    for hit in nearby["items"]:
        if hit["business_name"] == site.name:
            return int(hit["id"])
    body = {"business_name": site.name, "city": site.city, **at}
    provider = _answer(await client.post("/api/providers", json=body, headers=headers), 201)
    weekly = [{"weekday": day, "opens": "08:00", "closes": "17:00"} for day in range(7)]
    hours = {"timezone": site.timezone, "weekly": weekly}
    path = f"/api/providers/{provider['id']}/availability"
    _answer(await client.put(path, json=hours, headers=headers), 200)
    for category in site.categories:
        service = {
            "name": f"Demo {category}",
            "category": category,
            "duration_minutes": 45,
            "price": "800",
        }
        path = f"/api/providers/{provider['id']}/services"
        _answer(await client.post(path, json=service, headers=headers), 201)
    return int(provider["id"])


async def _book_midday(client: Client, secret_key: str, provider_id: int, day: date) -> None:
    """A demo customer's booking of the provider tomorrow at BOOKED_AT, at a stable."""
    headers = await _signed_in(client, secret_key, DEMO_CUSTOMER, "customer")
    profile = _answer(await client.get(f"/api/providers/{provider_id}"), 200)
    start = datetime.combine(day, BOOKED_AT, ZoneInfo("Europe/Stockholm"))
    booking = {
        "provider_id": provider_id,
        "service_id": profile["services"][0]["id"],
        "start": start.isoformat(),
        "horse_name": "Demo",
        **BOOKED_STABLE,
    }
    made = await client.post("/api/bookings", json=booking, headers=headers)
    if made.status_code == 201:
        say(f"booked {STOCKHOLM.name} on {day} at {BOOKED_AT:%H:%M}")
    else:
        say(f"no booking at {BOOKED_AT:%H:%M} on {day}: {made.json()['detail']}")


async def _has_route(client: Client, headers: dict[str, str], provider_id: int, day: str) -> bool:
    planned = _answer(await client.get("/api/routes", params={"date": day}, headers=headers), 200)
    return any(route["provider_id"] == provider_id for route in planned["items"])


async def plan_tomorrow(client: Client, secret_key: str) -> None:
    """`secret_key`: the app's, which the demo accounts' verification tokens are made of."""
    headers = await _signed_in(client, secret_key)
    await _plan_stockholm(client, secret_key, headers)
    await _plan_helsinki(client, secret_key, headers)


async def _plan_stockholm(client: Client, secret_key: str, headers: dict[str, str]) -> None:
    provider_id = await _provider(client, headers, STOCKHOLM)
    tomorrow = date.today() + timedelta(days=1)
    day = tomorrow.isoformat()
    if await _has_route(client, headers, provider_id, day):
        say(f"{STOCKHOLM.name} has a route on {day} already")
        return
    params: dict[str, str | float] = {
        "lat": STOCKHOLM.location["latitude"],
        "lng": STOCKHOLM.location["longitude"],
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
    await _book_midday(client, secret_key, provider_id, tomorrow)
    # All but the farthest: it is left to be found along the route and inserted.
    planned_ids = [o["id"] for o in orders["items"]][: max(1, len(orders["items"]) - 1)]
    draft = {"provider_id": provider_id, "date": day, "route_order_ids": planned_ids}
    route = _answer(await client.post("/api/routes", json=draft, headers=headers), 201)
    say(_summary(f"planned route {route['id']} on {day}", route))
    await _insert_along(client, headers, route)


async def _plan_helsinki(client: Client, secret_key: str, headers: dict[str, str]) -> None:
    """Tomorrow's visits to HELSINKI_STABLES, ordered by the demo customer and planned on
    the roads."""
    provider_id = await _provider(client, headers, HELSINKI)
    day = (date.today() + timedelta(days=1)).isoformat()
    if await _has_route(client, headers, provider_id, day):
        say(f"{HELSINKI.name} has a route on {day} already")
        return
    customer = await _signed_in(client, secret_key, DEMO_CUSTOMER, "customer")
    order_ids = []
    for latitude, longitude in HELSINKI_STABLES:
        order = {"category": "farrier", "latitude": latitude, "longitude": longitude}
        order |= {"earliest": day, "latest": day}
        placed = await client.post("/api/route-orders", json=order, headers=customer)
        order_ids.append(_answer(placed, 201)["id"])
    draft = {"provider_id": provider_id, "date": day, "route_order_ids": order_ids}
    route = _answer(await client.post("/api/routes", json=draft, headers=headers), 201)
    say(_summary(f"planned route {route['id']} in Helsinki on {day}", route, HELSINKI.timezone))


async def _insert_along(client: Client, headers: dict[str, str], route: dict[str, Any]) -> None:
    """Insert the open order near the route whose visit would add least to it."""
    path = f"/api/routes/{route['id']}"
    corridor = {"corridor_km": ALONG_KM}
    along = _answer(
        await client.get(f"{path}/nearby-orders", params=corridor, headers=headers), 200
    )
    for order in along["items"]:
        body = {"route_order_id": order["id"]}
        inserted = await client.post(f"{path}/stops", json=body, headers=headers)
        if inserted.status_code == 200:
            say(_summary(f"inserted order {order['id']} found along it", inserted.json()))
            return
    say("no order along the route fits the day")


def _summary(done: str, route: dict[str, Any], timezone: str = STOCKHOLM.timezone) -> str:
    zone = ZoneInfo(timezone)
    rest = route["break"]
    lunch = (
        "no break"
        if rest is None
        else f"a break at {datetime.fromisoformat(rest['start']).astimezone(zone):%H:%M}"
    )
    left = len(route.get("unassigned", []))
    return (
        f"{done}: {len(route['stops'])} stops, {route['total_distance_m'] / 1000:.1f} km"
        f" by {route['travel'].replace('_', ' ')},"
        f" {lunch}, home at {datetime.fromisoformat(route['finish']).astimezone(zone):%H:%M}"
        + (f", {left} orders left open" if left else "")
    )


async def main() -> None:
    settings = from_env()
    # Opening both providers is a dozen profile writes in a moment, past what one account
    # may make a minute; the demo's own in-process app allows them (the served one keeps
    # the limit).
    limits = msgspec.structs.replace(settings.rate_limits, provider_write="60/minute")
    settings = msgspec.structs.replace(settings, rate_limits=limits)
    async with AsyncTestClient(app=create_app(settings)) as client:
        await plan_tomorrow(client, settings.secret_key)


if __name__ == "__main__":
    asyncio.run(main())
