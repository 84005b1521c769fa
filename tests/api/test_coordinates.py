"""One spelling of every place: the antimeridian (and what is within 0.1 mm of it) is +180
and a coordinate within 0.1 mm of zero is zero, in searches and in what is stored. All
once answered 500: PostGIS's nearest-first index fails on a point at -180 searched from
+180, returns rows out of order for a centre a hair beside the antimeridian near a point
on it, and a subnormal latitude underflows in the database's arithmetic (found by
tests/api/test_fuzzing.py)."""

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import SignedIn, sign_up

Client = AsyncTestClient[Litestar]
pytestmark = pytest.mark.pgbouncer

# The suite's edge provider "Dateline Equator" stands at latitude 0, longitude +180.
DATELINE = "Dateline Equator"


@pytest.mark.parametrize("latitude", ["0", "-7.062710117728942e-214", "1e-10", "-0.0"])
@pytest.mark.parametrize(
    "longitude", ["-180", "180", "-180.0", "-179.99999999999997", "179.9999999999"]
)
async def test_both_spellings_of_the_antimeridian_find_what_stands_on_it(
    client: Client, latitude: str, longitude: str
) -> None:
    response = await client.get(
        "/api/providers/nearby", params={"lat": latitude, "lng": longitude, "radius_km": 1}
    )
    assert response.status_code == 200, response.text
    first = response.json()["items"][0]
    assert (first["business_name"], first["distance_m"]) == (DATELINE, 0.0)


async def test_one_place_spelled_two_ways_is_one_cached_search(client: Client) -> None:
    spellings = [{"lat": "0", "lng": "-180"}, {"lat": "-0.0", "lng": "180"}]
    answers = [await client.get("/api/providers/nearby", params=p) for p in spellings]
    assert answers[1].headers["server-timing"] == 'cache;desc="hit"'
    assert answers[0].json() == answers[1].json()


async def test_a_provider_placed_on_either_meridian_or_a_hair_from_zero_is_stored_canonically(
    client: Client,
) -> None:
    owner: SignedIn = await sign_up(client, "provider")
    body = {"business_name": "Dateline Farrier", "latitude": 5e-324, "longitude": -180.0}
    created = await client.post("/api/providers", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    assert (created.json()["latitude"], created.json()["longitude"]) == (0.0, 180.0)
    for longitude in ("-180", "180"):
        found = await client.get(
            "/api/providers/nearby", params={"lat": "0", "lng": longitude, "radius_km": 1}
        )
        assert created.json()["id"] in [item["id"] for item in found.json()["items"]]
    moved = await client.patch(
        f"/api/providers/{created.json()['id']}",
        json={"latitude": -1e-300, "longitude": -180},
        headers=owner.headers,
    )
    assert (moved.json()["latitude"], moved.json()["longitude"]) == (0.0, 180.0)
    await client.delete(f"/api/providers/{created.json()['id']}", headers=owner.headers)
