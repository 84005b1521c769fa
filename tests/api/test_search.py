"""Search endpoints through the HTTP app, against the seeded PostGIS database."""

import math
import random
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.models import Provider
from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn, sign_up

pytestmark = pytest.mark.pgbouncer

Client = AsyncTestClient[Litestar]
STOCKHOLM = Point(59.3294, 18.0687)
STRATEGIES = ("gist", "bbox", "naive")


class Everyone:
    """All active providers, for brute-force answers computed independently in Python."""

    def __init__(self, rows: list[tuple[int, float, float, list[str]]]) -> None:
        self.rows = rows

    def within(
        self, center: Point, radius_m: float, category: str | None = None
    ) -> list[tuple[float, int]]:
        """(haversine distance, id) of every match, nearest first, ties by id."""
        matches = [
            (haversine_m(center, Point(lat, lng)), provider_id)
            for provider_id, lat, lng, categories in self.rows
            if category is None or category in categories
        ]
        return sorted(m for m in matches if m[0] <= radius_m)


@pytest.fixture(scope="session")
async def everyone(engine: AsyncEngine) -> Everyone:
    async with AsyncSession(engine) as session:
        rows = await session.execute(
            select(Provider.id, Provider.latitude, Provider.longitude, Provider.categories).where(
                Provider.is_active
            )
        )
        return Everyone([(id_, lat, lng, categories) for id_, lat, lng, categories in rows])


async def nearby(client: Client, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/providers/nearby", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _search_cases(count: int) -> list[tuple[Point, float, int, str | None]]:
    """Random centers (half near Stockholm's dense cluster), radii, limits and categories."""
    rng = random.Random(2026)
    cases = []
    for i in range(count):
        if i % 2:
            center = Point(
                STOCKHOLM.latitude + rng.uniform(-1, 1), STOCKHOLM.longitude + rng.uniform(-2, 2)
            )
        else:
            center = Point(rng.uniform(54.5, 70), rng.uniform(4, 31))
        radius_km = rng.choice([0.5, 2, 10, 25, 50, 100, rng.uniform(0.1, 100)])
        category = rng.choice([None, None, "farrier", "vet", "dentist"])
        cases.append((center, radius_km, rng.randint(1, 100), category))
    return cases


@pytest.mark.parametrize(("center", "radius_km", "limit", "category"), _search_cases(24))
async def test_nearby_matches_brute_force_haversine_for_every_strategy(
    client: Client,
    everyone: Everyone,
    center: Point,
    radius_km: float,
    limit: int,
    category: str | None,
) -> None:
    expected = everyone.within(center, radius_km * 1000, category)
    params: dict[str, Any] = {
        "lat": center.latitude,
        "lng": center.longitude,
        "radius_km": radius_km,
        "limit": limit,
    }
    if category:
        params["category"] = category
    pages = {s: await nearby(client, **params, strategy=s) for s in STRATEGIES}

    gist = pages["gist"]
    assert [item["id"] for item in gist["items"]] == [i for _, i in expected[:limit]]
    for item, (distance, _) in zip(gist["items"], expected, strict=False):
        assert item["distance_m"] == pytest.approx(distance, rel=0.005, abs=0.01)
    assert (gist["next_cursor"] is not None) == (len(expected) > limit)
    for strategy in ("bbox", "naive"):
        assert pages[strategy]["items"] == gist["items"], strategy
        assert pages[strategy]["strategy"] == strategy


async def test_items_are_ordered_by_the_distance_they_report(client: Client) -> None:
    page = await nearby(
        client, lat=STOCKHOLM.latitude, lng=STOCKHOLM.longitude, radius_km=100, limit=100
    )
    keys = [(item["distance_m"], item["id"]) for item in page["items"]]
    assert len(keys) == 100
    assert keys == sorted(keys)
    assert all(d <= 100_000 for d, _ in keys)


async def test_nearby_excludes_points_just_outside_radius(client: Client) -> None:
    first = await nearby(
        client, lat=STOCKHOLM.latitude, lng=STOCKHOLM.longitude, radius_km=5, limit=100
    )
    farthest = first["items"][-1]["distance_m"]
    shrunk_km = (farthest - 0.01) / 1000
    page = await nearby(
        client, lat=STOCKHOLM.latitude, lng=STOCKHOLM.longitude, radius_km=shrunk_km, limit=100
    )
    for strategy in STRATEGIES:
        again = await nearby(
            client,
            lat=STOCKHOLM.latitude,
            lng=STOCKHOLM.longitude,
            radius_km=shrunk_km,
            limit=100,
            strategy=strategy,
        )
        assert [i["id"] for i in again["items"]] == [i["id"] for i in page["items"]]
        assert first["items"][-1]["id"] not in {i["id"] for i in again["items"]}


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_walking_the_cursor_returns_every_match_once_in_order(
    client: Client, everyone: Everyone, strategy: str
) -> None:
    center, radius_km = Point(59.40, 17.95), 6.0
    expected = [i for _, i in everyone.within(center, radius_km * 1000)]
    assert 50 < len(expected) < 2000
    seen: list[int] = []
    cursor = None
    for _ in range(len(expected)):
        params: dict[str, Any] = {
            "lat": center.latitude,
            "lng": center.longitude,
            "radius_km": radius_km,
            "limit": 37,
            "strategy": strategy,
        }
        if cursor:
            params["cursor"] = cursor
        page = await nearby(client, **params)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


async def test_cursor_from_one_strategy_continues_in_another(client: Client) -> None:
    params = {"lat": STOCKHOLM.latitude, "lng": STOCKHOLM.longitude, "radius_km": 10, "limit": 5}
    first = await nearby(client, **params, strategy="gist")
    second_gist = await nearby(client, **params, cursor=first["next_cursor"])
    second_bbox = await nearby(client, **params, cursor=first["next_cursor"], strategy="bbox")
    assert second_gist["items"] == second_bbox["items"]


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_north_pole_finds_points_at_every_longitude(client: Client, strategy: str) -> None:
    page = await nearby(client, lat=90, lng=-150, radius_km=10, strategy=strategy)
    assert {item["business_name"] for item in page["items"]} == {
        "North Pole A",
        "North Pole B",
        "Near North Pole",
    }


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_south_pole(client: Client, strategy: str) -> None:
    page = await nearby(client, lat=-89.5, lng=100, radius_km=100, strategy=strategy)
    assert [item["business_name"] for item in page["items"]] == ["South Pole"]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("lng", [180, -180, 179.99, -179.99])
async def test_search_across_the_antimeridian(client: Client, strategy: str, lng: float) -> None:
    page = await nearby(client, lat=65, lng=lng, radius_km=20, strategy=strategy)
    assert {item["business_name"] for item in page["items"]} == {"Chukotka East", "Chukotka West"}


async def test_radius_of_exactly_100_km_and_limit_100_are_accepted(client: Client) -> None:
    page = await nearby(
        client, lat=STOCKHOLM.latitude, lng=STOCKHOLM.longitude, radius_km=100, limit=100
    )
    assert len(page["items"]) == 100
    assert page["next_cursor"] is not None


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_empty_ocean_returns_no_items_and_no_cursor(client: Client, strategy: str) -> None:
    page = await nearby(client, lat=40, lng=-30, radius_km=100, strategy=strategy)
    assert page == {"items": [], "next_cursor": None, "strategy": strategy}


async def test_defaults_are_25_km_and_20_items(client: Client, everyone: Everyone) -> None:
    page = await nearby(client, lat=STOCKHOLM.latitude, lng=STOCKHOLM.longitude)
    expected = everyone.within(STOCKHOLM, 25_000)
    assert [i["id"] for i in page["items"]] == [i for _, i in expected[:20]]


async def test_category_filter_only_returns_that_category(client: Client) -> None:
    page = await nearby(
        client, lat=STOCKHOLM.latitude, lng=STOCKHOLM.longitude, category="dentist", limit=100
    )
    assert page["items"]
    assert all("dentist" in item["categories"] for item in page["items"])


async def test_public_search_responses_are_cacheable(client: Client) -> None:
    response = await client.get("/api/providers/nearby", params={"lat": 59, "lng": 18})
    assert "public" in response.headers["cache-control"]
    assert "max-age=" in response.headers["cache-control"]


async def test_geojson_is_an_rfc7946_feature_collection(client: Client) -> None:
    params = {"lat": STOCKHOLM.latitude, "lng": STOCKHOLM.longitude, "limit": 10}
    plain = await nearby(client, **params)
    response = await client.get("/api/providers/nearby", params={**params, "format": "geojson"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    assert collection["next_cursor"] == plain["next_cursor"]
    assert len(collection["features"]) == len(plain["items"]) == 10
    for feature, item in zip(collection["features"], plain["items"], strict=True):
        assert feature["type"] == "Feature"
        assert feature["id"] == item["id"]
        assert feature["geometry"] == {
            "type": "Point",
            "coordinates": [item["longitude"], item["latitude"]],
        }
        lng, lat = feature["geometry"]["coordinates"]
        assert -180 <= lng <= 180
        assert -90 <= lat <= 90
        assert feature["properties"]["distance_m"] == item["distance_m"]
        assert feature["properties"]["categories"] == item["categories"]
        assert set(feature) <= {"type", "id", "geometry", "properties", "bbox"}


async def test_geojson_cursor_walks_like_json(client: Client) -> None:
    params: dict[str, Any] = {
        "lat": STOCKHOLM.latitude,
        "lng": STOCKHOLM.longitude,
        "limit": 3,
        "format": "geojson",
    }
    first = (await client.get("/api/providers/nearby", params=params)).json()
    second = (
        await client.get("/api/providers/nearby", params={**params, "cursor": first["next_cursor"]})
    ).json()
    json_page = await nearby(client, lat=STOCKHOLM.latitude, lng=STOCKHOLM.longitude, limit=6)
    ids = [f["id"] for f in first["features"] + second["features"]]
    assert ids == [item["id"] for item in json_page["items"]]


# An empty stretch of the Norwegian Sea, for providers placed by the tests below.
EDGE_SPOT = Point(66.2, 2.5)


async def _provider_at(client: Client, owner: SignedIn, point: Point, name: str) -> int:
    body = {"business_name": name, "latitude": point.latitude, "longitude": point.longitude}
    response = await client.post("/api/providers", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    provider_id: int = response.json()["id"]
    return provider_id


def _radius_km_of_exactly(distance_m: float) -> float:
    """A radius in km that the API turns into exactly `distance_m` metres."""
    radius_km = distance_m / 1000
    while radius_km * 1000 != distance_m:
        radius_km = math.nextafter(radius_km, math.inf if radius_km * 1000 < distance_m else 0)
    return radius_km


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_provider_exactly_on_the_radius_is_found_and_one_just_inside_it_is_not(
    client: Client, strategy: str
) -> None:
    owner = await sign_up(client, "provider")
    point = Point(EDGE_SPOT.latitude + 0.05, EDGE_SPOT.longitude + 0.03)
    provider_id = await _provider_at(client, owner, point, f"On the edge {strategy}")
    center = {"lat": EDGE_SPOT.latitude, "lng": EDGE_SPOT.longitude, "strategy": strategy}
    [hit] = [
        i for i in (await nearby(client, **center, radius_km=50))["items"] if i["id"] == provider_id
    ]
    on_the_edge = _radius_km_of_exactly(hit["distance_m"])
    just_short = on_the_edge
    while just_short * 1000 >= hit["distance_m"]:
        just_short = math.nextafter(just_short, 0)
    found = await nearby(client, **center, radius_km=on_the_edge, limit=100)
    missed = await nearby(client, **center, radius_km=just_short, limit=100)
    assert provider_id in {item["id"] for item in found["items"]}
    assert provider_id not in {item["id"] for item in missed["items"]}


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_providers_at_one_distance_come_in_id_order_across_pages(
    client: Client, strategy: str
) -> None:
    owner = await sign_up(client, "provider")
    point = Point(
        EDGE_SPOT.latitude - 0.05, EDGE_SPOT.longitude - 0.03 + STRATEGIES.index(strategy)
    )
    ids = [await _provider_at(client, owner, point, f"Twin {n}") for n in range(5)]
    # An update moves the first twin's row behind the others on disk, so that id order is
    # not also the order in which a scan happens to read them.
    renamed = await client.patch(
        f"/api/providers/{ids[0]}", json={"business_name": "Twin 0"}, headers=owner.headers
    )
    assert renamed.status_code == 200, renamed.text
    params: dict[str, Any] = {"lat": point.latitude + 0.01, "lng": point.longitude, "radius_km": 5}
    seen: list[int] = []
    distances: set[float] = set()
    cursor = None
    for _ in range(3):
        page = await nearby(
            client, **params, limit=2, strategy=strategy, **({"cursor": cursor} if cursor else {})
        )
        seen += [item["id"] for item in page["items"]]
        distances |= {item["distance_m"] for item in page["items"]}
        cursor = page["next_cursor"]
    assert seen == sorted(ids)
    assert len(distances) == 1
    assert cursor is None
