"""Free near me: nearby's providers that have a free slot in the window, each with its
first one, checked against a brute force (haversine distances, minute-by-minute slots) on
random queries with every cursor walked to the end; and its cached answers end with a
calendar change of a provider they could show, not with one elsewhere."""

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from app.slots.queries import slot_rules
from db.slots import SlotRules
from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import Client, OpenProvider, days_ahead, every_page, stockholm
from tests.support.free_time import Calendar, brute_force_slots, commitments_of, set_hours

AVAILABLE = "/api/providers/available"
# Mid-Atlantic, away from every other test's providers.
CENTER = Point(61.5, -31.0)
WEEKDAYS = {day: [("08:00", "16:00")] for day in range(5)}
EVERY_DAY = {day: [("07:00", "19:00")] for day in range(7)}


@dataclass
class Offered:
    """A provider of the scene: where, what it offers (service id: category, minutes),
    how far it serves, and its calendar."""

    id: int
    place: Point
    services: dict[int, tuple[str, int]]
    serves_km: float
    calendar: Calendar


async def _provider(
    client: Client, owner: SignedIn, place: Point, serves_km: float, services: list[tuple[str, int]]
) -> tuple[int, dict[int, tuple[str, int]]]:
    body = {
        "business_name": "Fri",
        "latitude": place.latitude,
        "longitude": place.longitude,
        "service_radius_km": serves_km,
    }
    created = await client.post("/api/providers", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    provider_id: int = created.json()["id"]
    offered = {}
    for category, minutes in services:
        service = {"name": category, "category": category, "duration_minutes": minutes}
        response = await client.post(
            f"/api/providers/{provider_id}/services",
            json=service | {"price": "500"},
            headers=owner.headers,
        )
        assert response.status_code == 201, response.text
        offered[response.json()["id"]] = (category, minutes)
    return provider_id, offered


def _around(rng: random.Random, within_km: float) -> Point:
    bearing, distance = rng.uniform(0, 2 * math.pi), within_km * math.sqrt(rng.random())
    return Point(
        CENTER.latitude + distance * math.cos(bearing) / 111.195,
        CENTER.longitude + distance * math.sin(bearing) / (111.195 * math.cos(math.radians(61.5))),
    )


async def _scene(client: Client, engine: AsyncEngine) -> list[Offered]:
    """Fourteen providers within 20 km of CENTER: open every day or on weekdays, never
    (no hours) or closed all window long (exceptions), farriers and vets of different
    lengths, near and far service radii, and mornings booked at stables around."""
    rng = random.Random(2029)
    owner, customer = await sign_up(client, "provider"), await sign_up(client, "customer")
    window = [days_ahead(3 + n) for n in range(7)]
    scene = []
    for n in range(14):
        place = _around(rng, 20)
        services = [("farrier", rng.choice([45, 60, 90]))]
        if n % 3 == 0:
            services.append(("vet", rng.choice([30, 60])))
        if n == 5:
            services = [("vet", 30)]
        serves_km = rng.choice([5.0, 50.0])
        provider_id, offered = await _provider(client, owner, place, serves_km, services)
        first_service = next(iter(offered))
        handle = OpenProvider(owner, provider_id, first_service)
        weekly = {} if n == 7 else (WEEKDAYS if n % 2 else EVERY_DAY)
        closed = dict.fromkeys(window) if n == 9 else {}
        hours, exceptions = await set_hours(client, handle, weekly, closed)
        for day in rng.sample(window, 3) if weekly and n != 9 else []:
            for start in (stockholm(day, 8), stockholm(day, 11)):
                stable = _around(rng, 25)
                body = handle.booking(start, latitude=stable.latitude, longitude=stable.longitude)
                booked = await client.post("/api/bookings", json=body, headers=customer.headers)
                assert booked.status_code in (201, 409, 422), booked.text
        calendar = Calendar(place, hours, exceptions, await commitments_of(engine, provider_id))
        scene.append(Offered(provider_id, place, offered, serves_km, calendar))
    return scene


def _first_free(
    provider: Offered,
    category: str | None,
    days: tuple[date, date],
    at: Point,
    rules: SlotRules,
    now: datetime,
) -> tuple[datetime, int] | None:
    """The earliest free start of any matching service, of the shortest then the lowest
    id among those free then."""
    free = []
    for service_id, (offered, minutes) in provider.services.items():
        if category in (None, offered):
            slots = brute_force_slots(provider.calendar, minutes, days, at, rules, now)
            free += [(slots[0], minutes, service_id)] if slots else []
    if not free:
        return None
    start, _, service_id = min(free)
    return start, service_id


def _expected(
    scene: list[Offered], query: dict[str, Any], rules: SlotRules, now: datetime
) -> list[tuple[int, datetime, int]]:
    at = Point(query["lat"], query["lng"])
    days = (date.fromisoformat(query["from"]), date.fromisoformat(query["to"]))
    found = []
    for provider in scene:
        distance = haversine_m(at, provider.place)
        if distance > query["radius_km"] * 1000:
            continue
        if query["serves"] == "true" and distance > provider.serves_km * 1000:
            continue
        first = _first_free(provider, query.get("category"), days, at, rules, now)
        if first is not None:
            found.append((distance, provider.id, *first))
    return [(provider_id, start, service) for _, provider_id, start, service in sorted(found)]


@pytest.fixture
async def scene(client: Client, engine: AsyncEngine) -> list[Offered]:
    return await _scene(client, engine)


async def test_free_near_me_is_the_brute_force_on_random_queries_every_page_walked(
    client: Client, customer: SignedIn, scene: list[Offered], settings: Settings
) -> None:
    rng = random.Random(7)
    rules = slot_rules(settings)
    providers_seen = set()
    for _ in range(6):
        first = days_ahead(rng.randint(2, 6))
        at = _around(rng, 8)
        query: dict[str, str | float] = {
            "lat": at.latitude,
            "lng": at.longitude,
            "radius_km": rng.choice([6, 15, 30]),
            "from": first.isoformat(),
            "to": (first + timedelta(days=rng.randint(0, 6))).isoformat(),
            "serves": rng.choice(["true", "false"]),
            "limit": 3,
            **({"category": rng.choice(["farrier", "vet"])} if rng.random() < 0.5 else {}),
        }
        now = datetime.now(UTC)
        items = await every_page(client, customer, AVAILABLE, query)
        found = [
            (
                item["id"],
                datetime.fromisoformat(item["first_free"]["start"]),
                item["first_free"]["service_id"],
            )
            for item in items
        ]
        assert found == _expected(scene, query, rules, now), query
        assert {item["first_free"]["travel"] for item in items} <= {"great_circle"}
        providers_seen |= {item["id"] for item in items}
    assert len(providers_seen) >= 6  # the queries found something to compare


async def test_an_answer_ends_with_a_calendar_change_of_a_provider_it_shows_only(
    client: Client, customer: SignedIn, provider: OpenProvider, scene: list[Offered]
) -> None:
    day = days_ahead(4)
    query: dict[str, str | float] = {"lat": CENTER.latitude, "lng": CENTER.longitude}
    query |= {"radius_km": 30, "limit": 1}
    query |= {"from": day.isoformat(), "to": day.isoformat(), "category": "farrier"}
    first = await client.get(AVAILABLE, params=query)
    [item] = first.json()["items"]
    again = await client.get(AVAILABLE, params=query)
    assert again.headers["server-timing"] == 'cache;desc="hit"'
    elsewhere = provider.booking(stockholm(day, 9))  # in the Norwegian Sea
    assert (await client.post("/api/bookings", json=elsewhere, headers=customer.headers)).is_success
    still = await client.get(AVAILABLE, params=query)
    assert still.headers["server-timing"] == 'cache;desc="hit"'
    shown = OpenProvider(provider.owner, item["id"], item["first_free"]["service_id"])
    taken = datetime.fromisoformat(item["first_free"]["start"])
    body = shown.booking(taken, latitude=CENTER.latitude, longitude=CENTER.longitude)
    assert (await client.post("/api/bookings", json=body, headers=customer.headers)).is_success
    after = await client.get(AVAILABLE, params=query)
    assert after.headers["server-timing"] != 'cache;desc="hit"'
    [moved] = after.json()["items"]
    assert (moved["id"], moved["first_free"]["start"]) != (item["id"], item["first_free"]["start"])


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": days_ahead(1).isoformat(), "to": days_ahead(15).isoformat()}, 400),
        ({"from": days_ahead(3).isoformat(), "to": days_ahead(2).isoformat()}, 400),
        ({"from": days_ahead(-3).isoformat()}, 400),
        ({"radius_km": 101}, 400),
        ({"limit": 0}, 400),
        ({"serves": "maybe"}, 400),
        ({"category": "juggler"}, 400),
    ],
)
async def test_bad_free_near_me_parameters_are_400(
    client: Client, params: dict[str, Any], status: int
) -> None:
    query = {"lat": CENTER.latitude, "lng": CENTER.longitude, **params}
    response = await client.get(AVAILABLE, params=query)
    assert response.status_code == status, response.text
