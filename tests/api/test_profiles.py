"""Provider profiles, services and weekly hours: owner-only writes, geocoding, search freshness."""

from datetime import date, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.accounts import SignedIn, sign_up
from tests.support.search_cache import cached_pages

pytestmark = pytest.mark.pgbouncer

Client = AsyncTestClient[Litestar]
CLOSED_TOMORROW = {"date": (date.today() + timedelta(days=1)).isoformat(), "closed": True}
UPPSALA = (59.85882, 17.63889)
# A spot in the Bothnian Sea with no seeded provider near it, so searches see only ours.
OPEN_SEA = (61.5, 19.5)


@pytest.fixture
async def owner(client: Client) -> SignedIn:
    return await sign_up(client, "provider")


@pytest.fixture
async def intruder(client: Client) -> SignedIn:
    return await sign_up(client, "provider")


async def create_provider(client: Client, owner: SignedIn, **fields: Any) -> dict[str, Any]:
    body = {"business_name": "Hovslagare Test", **fields}
    response = await client.post("/api/providers", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def nearby_ids(client: Client, lat: float, lng: float, **params: Any) -> list[int]:
    response = await client.get(
        "/api/providers/nearby", params={"lat": lat, "lng": lng, "radius_km": 5, **params}
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_create_with_coordinates(client: Client, owner: SignedIn) -> None:
    provider = await create_provider(
        client, owner, latitude=OPEN_SEA[0], longitude=OPEN_SEA[1], city="Till havs"
    )
    assert (provider["latitude"], provider["longitude"]) == OPEN_SEA
    assert provider["services"] == []
    assert "address" not in provider
    assert "user_id" not in provider


async def test_create_with_an_address_geocodes_it(client: Client, owner: SignedIn) -> None:
    provider = await create_provider(
        client, owner, address="Storgatan 1", postal_code="753 20", city="Uppsala"
    )
    assert (provider["latitude"], provider["longitude"]) == UPPSALA


async def test_an_address_nobody_can_locate_is_422(client: Client, owner: SignedIn) -> None:
    response = await client.post(
        "/api/providers",
        json={"business_name": "Vilse", "address": "Qwxz 12"},
        headers=owner.headers,
    )
    assert response.status_code == 422
    assert "latitude and longitude" in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"business_name": "Nowhere"},
        {"business_name": "Half", "latitude": 59.3},
        {"business_name": "", "latitude": 59.3, "longitude": 18.0},
        {"business_name": "Far", "latitude": 91, "longitude": 18.0},
        {"business_name": "Wide", "latitude": 59.3, "longitude": 18.0, "service_radius_km": 0},
        {"business_name": "Sneaky", "latitude": 59.3, "longitude": 18.0, "user_id": 1},
    ],
)
async def test_invalid_provider_bodies_are_400(
    client: Client, owner: SignedIn, body: dict[str, Any]
) -> None:
    response = await client.post("/api/providers", json=body, headers=owner.headers)
    assert response.status_code == 400


async def test_customers_cannot_create_providers(client: Client) -> None:
    customer = await sign_up(client, "customer")
    response = await client.post(
        "/api/providers",
        json={"business_name": "X", "latitude": 59.0, "longitude": 18.0},
        headers=customer.headers,
    )
    assert response.status_code == 403


async def test_writes_need_a_token(client: Client) -> None:
    response = await client.post(
        "/api/providers", json={"business_name": "X", "latitude": 59.0, "longitude": 18.0}
    )
    assert response.status_code == 401


async def test_moving_the_address_regeocodes_and_refreshes_cached_searches(
    client: Client, owner: SignedIn
) -> None:
    provider = await create_provider(
        client, owner, latitude=OPEN_SEA[0], longitude=OPEN_SEA[1], city="Till havs"
    )
    assert provider["id"] in await nearby_ids(client, *OPEN_SEA)  # now cached
    moved = await client.patch(
        f"/api/providers/{provider['id']}",
        json={"address": "Storgatan 1", "city": "Uppsala"},
        headers=owner.headers,
    )
    assert moved.status_code == 200
    assert (moved.json()["latitude"], moved.json()["longitude"]) == UPPSALA
    assert provider["id"] not in await nearby_ids(client, *OPEN_SEA)
    assert provider["id"] in await nearby_ids(client, *UPPSALA, limit=100)


async def test_identical_searches_are_served_from_the_cache(
    client: Client, redis_cache_url: str
) -> None:
    redis = Redis.from_url(redis_cache_url)
    params = {"lat": 60.1, "lng": 15.2, "radius_km": 7}
    before = await cached_pages(redis)
    first = await client.get("/api/providers/nearby", params=params)
    after_first = await cached_pages(redis)
    second = await client.get("/api/providers/nearby", params=params)
    after_second = await cached_pages(redis)
    await redis.aclose()
    assert first.content == second.content
    assert (after_first, after_second) == (before + 1, before + 1)


async def test_patch_with_coordinates_moves_without_geocoding(
    client: Client, owner: SignedIn
) -> None:
    provider = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    moved = await client.patch(
        f"/api/providers/{provider['id']}",
        json={"address": "Qwxz 12", "latitude": OPEN_SEA[0], "longitude": OPEN_SEA[1]},
        headers=owner.headers,
    )
    assert (moved.json()["latitude"], moved.json()["longitude"]) == OPEN_SEA


async def test_soft_delete_takes_the_provider_off_search_and_profile(
    client: Client, owner: SignedIn, engine: AsyncEngine
) -> None:
    provider = await create_provider(client, owner, latitude=OPEN_SEA[0], longitude=OPEN_SEA[1])
    assert provider["id"] in await nearby_ids(client, *OPEN_SEA)
    deleted = await client.delete(f"/api/providers/{provider['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert provider["id"] not in await nearby_ids(client, *OPEN_SEA)
    assert (await client.get(f"/api/providers/{provider['id']}")).status_code == 404
    async with engine.connect() as connection:
        kept = await connection.scalar(
            text("SELECT count(*) FROM providers WHERE id = :id"), {"id": provider["id"]}
        )
    assert kept == 1


async def test_a_new_service_makes_its_category_searchable(client: Client, owner: SignedIn) -> None:
    provider = await create_provider(client, owner, latitude=OPEN_SEA[0], longitude=OPEN_SEA[1])
    assert provider["id"] not in await nearby_ids(client, *OPEN_SEA, category="dentist")
    service = await client.post(
        f"/api/providers/{provider['id']}/services",
        json={
            "name": "Tandraspning",
            "category": "dentist",
            "duration_minutes": 60,
            "price": "1200",
        },
        headers=owner.headers,
    )
    assert service.status_code == 201, service.text
    assert service.json()["category"] == "dentist"
    assert provider["id"] in await nearby_ids(client, *OPEN_SEA, category="dentist")
    removed = await client.delete(
        f"/api/providers/{provider['id']}/services/{service.json()['id']}", headers=owner.headers
    )
    assert removed.status_code == 204
    assert provider["id"] not in await nearby_ids(client, *OPEN_SEA, category="dentist")


async def test_service_updates_change_only_what_was_sent(client: Client, owner: SignedIn) -> None:
    provider = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    created = await client.post(
        f"/api/providers/{provider['id']}/services",
        json={"name": "Skoning", "category": "farrier", "duration_minutes": 90, "price": "1600.00"},
        headers=owner.headers,
    )
    updated = await client.patch(
        f"/api/providers/{provider['id']}/services/{created.json()['id']}",
        json={"price": "1750.50"},
        headers=owner.headers,
    )
    assert updated.status_code == 200
    assert updated.json() == {**created.json(), "price": "1750.50"}


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "category": "astrologer", "duration_minutes": 60, "price": "1"},
        {"name": "X", "category": "vet", "duration_minutes": 0, "price": "1"},
        {"name": "X", "category": "vet", "duration_minutes": 60, "price": "-1"},
        {"name": "X", "category": "vet", "duration_minutes": 60, "price": "1.005"},
        {"name": "X", "category": "vet", "duration_minutes": 60, "price": "NaN"},
        {"name": "", "category": "vet", "duration_minutes": 60, "price": "1"},
    ],
)
async def test_invalid_services_are_400(
    client: Client, owner: SignedIn, body: dict[str, Any]
) -> None:
    provider = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    response = await client.post(
        f"/api/providers/{provider['id']}/services", json=body, headers=owner.headers
    )
    assert response.status_code == 400


WEEKLY = {
    "timezone": "Europe/Oslo",
    "weekly": [
        {"weekday": 0, "opens": "08:00", "closes": "12:00"},
        {"weekday": 0, "opens": "13:00", "closes": "17:00"},
        {"weekday": 4, "opens": "07:30", "closes": "15:00"},
    ],
}


async def test_weekly_hours_are_replaced_and_public(client: Client, owner: SignedIn) -> None:
    provider = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    url = f"/api/providers/{provider['id']}/availability"
    assert (await client.get(url)).json() == {"timezone": "Europe/Stockholm", "weekly": []}
    first = await client.put(url, json=WEEKLY, headers=owner.headers)
    assert first.status_code == 200
    assert (await client.get(url)).json() == WEEKLY
    friday_only = {"timezone": "Europe/Stockholm", "weekly": [WEEKLY["weekly"][2]]}
    await client.put(url, json=friday_only, headers=owner.headers)
    assert (await client.get(url)).json() == friday_only


@pytest.mark.parametrize(
    "weekly",
    [
        [
            {"weekday": 0, "opens": "08:00", "closes": "12:00"},
            {"weekday": 0, "opens": "11:00", "closes": "13:00"},
        ],
        [{"weekday": 0, "opens": "12:00", "closes": "08:00"}],
        [{"weekday": 7, "opens": "08:00", "closes": "12:00"}],
        [{"weekday": 1, "opens": "8:00", "closes": "12:00"}],
        [{"weekday": 1, "opens": "08:00", "closes": "24:00"}],
    ],
)
async def test_invalid_weekly_hours_are_400(
    client: Client, owner: SignedIn, weekly: list[dict[str, Any]]
) -> None:
    provider = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    response = await client.put(
        f"/api/providers/{provider['id']}/availability",
        json={"timezone": "Europe/Stockholm", "weekly": weekly},
        headers=owner.headers,
    )
    assert response.status_code == 400


async def test_unknown_time_zone_is_400(client: Client, owner: SignedIn) -> None:
    provider = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    response = await client.put(
        f"/api/providers/{provider['id']}/availability",
        json={"timezone": "Europe/Atlantis", "weekly": []},
        headers=owner.headers,
    )
    assert response.status_code == 400
    assert "Europe/Atlantis" in response.text


async def _snapshot(engine: AsyncEngine, provider_id: int) -> tuple[Any, ...]:
    async with engine.connect() as connection:
        provider = (
            await connection.execute(
                text("SELECT providers::text FROM providers WHERE id = :id"), {"id": provider_id}
            )
        ).scalar_one()
        services = (
            await connection.execute(
                text(
                    "SELECT array_agg(services::text ORDER BY id) FROM services"
                    " WHERE provider_id = :id"
                ),
                {"id": provider_id},
            )
        ).scalar_one()
        hours = (
            await connection.execute(
                text(
                    "SELECT array_agg(availability::text ORDER BY id) FROM availability"
                    " WHERE provider_id = :id"
                ),
                {"id": provider_id},
            )
        ).scalar_one()
    return provider, services, hours


async def _provider_with_service_and_hours(client: Client, owner: SignedIn) -> tuple[int, int]:
    provider = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    pid = provider["id"]
    service = await client.post(
        f"/api/providers/{pid}/services",
        json={"name": "Skoning", "category": "farrier", "duration_minutes": 90, "price": "1600"},
        headers=owner.headers,
    )
    await client.put(f"/api/providers/{pid}/availability", json=WEEKLY, headers=owner.headers)
    return pid, service.json()["id"]


def _every_write(pid: int, sid: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("PATCH", f"/api/providers/{pid}", {"business_name": "Stolen"}),
        ("PATCH", f"/api/providers/{pid}", {"address": "Storgatan 1", "city": "Uppsala"}),
        ("DELETE", f"/api/providers/{pid}", None),
        (
            "POST",
            f"/api/providers/{pid}/services",
            {"name": "Fake", "category": "vet", "duration_minutes": 30, "price": "1"},
        ),
        ("PATCH", f"/api/providers/{pid}/services/{sid}", {"price": "1"}),
        ("DELETE", f"/api/providers/{pid}/services/{sid}", None),
        ("PUT", f"/api/providers/{pid}/availability", {"timezone": "UTC", "weekly": []}),
        ("POST", f"/api/providers/{pid}/availability/exceptions", CLOSED_TOMORROW),
    ]


async def test_every_write_on_someone_elses_provider_is_404_and_changes_nothing(
    client: Client, owner: SignedIn, intruder: SignedIn, engine: AsyncEngine
) -> None:
    pid, sid = await _provider_with_service_and_hours(client, owner)
    before = await _snapshot(engine, pid)
    for method, url, body in _every_write(pid, sid):
        response = await client.request(method, url, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, url, response.text)
    assert await _snapshot(engine, pid) == before


async def test_a_deactivated_provider_takes_no_writes_and_no_bookings(
    client: Client, owner: SignedIn, engine: AsyncEngine
) -> None:
    pid, sid = await _provider_with_service_and_hours(client, owner)
    deleted = await client.delete(f"/api/providers/{pid}", headers=owner.headers)
    assert deleted.status_code == 204
    before = await _snapshot(engine, pid)
    for method, url, body in _every_write(pid, sid):
        response = await client.request(method, url, json=body, headers=owner.headers)
        assert response.status_code == 404, (method, url, response.text)
    for url in (f"/api/providers/{pid}", f"/api/providers/{pid}/availability"):
        assert (await client.get(url)).status_code == 404, url
    customer = await sign_up(client, "customer")
    monday = date.today() + timedelta(days=7 - date.today().weekday())
    booking = {
        "provider_id": pid,
        "service_id": sid,
        "start": f"{monday.isoformat()}T10:00:00+01:00",
        "horse_name": "Blixten",
    }
    refused = await client.post("/api/bookings", json=booking, headers=customer.headers)
    assert refused.status_code == 422, refused.text
    assert "offers no service" in refused.json()["detail"]
    assert await _snapshot(engine, pid) == before


async def test_a_service_cannot_be_reached_through_another_provider(
    client: Client, owner: SignedIn, engine: AsyncEngine
) -> None:
    mine = await create_provider(client, owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    other_owner = await sign_up(client, "provider")
    theirs = await create_provider(client, other_owner, latitude=UPPSALA[0], longitude=UPPSALA[1])
    service = await client.post(
        f"/api/providers/{theirs['id']}/services",
        json={"name": "Skoning", "category": "farrier", "duration_minutes": 90, "price": "1600"},
        headers=other_owner.headers,
    )
    before = await _snapshot(engine, theirs["id"])
    response = await client.patch(
        f"/api/providers/{mine['id']}/services/{service.json()['id']}",
        json={"price": "1"},
        headers=owner.headers,
    )
    assert response.status_code == 404
    assert await _snapshot(engine, theirs["id"]) == before
