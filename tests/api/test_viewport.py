"""In-view and public profiles."""

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Provider

Client = AsyncTestClient[Litestar]


async def get_json(client: Client, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _count_in(
    session: AsyncSession, min_lng: float, min_lat: float, max_lng: float, max_lat: float
) -> int:
    statement = select(func.count()).where(
        Provider.is_active,
        Provider.latitude.between(min_lat, max_lat),
        Provider.longitude.between(min_lng, max_lng),
    )
    return int((await session.execute(statement)).scalar_one())


async def test_in_view_returns_only_points_inside_the_viewport(client: Client) -> None:
    page = await get_json(client, "/api/providers/in-view", bbox="17.5,59.0,18.5,59.6")
    assert len(page["items"]) == 100
    assert page["truncated"] is True
    for item in page["items"]:
        assert 17.5 <= item["longitude"] <= 18.5
        assert 59.0 <= item["latitude"] <= 59.6
    keys = [(i["distance_m"], i["id"]) for i in page["items"]]
    assert keys == sorted(keys)


async def test_in_view_of_a_sparse_viewport_returns_all_of_it(
    client: Client, db_session: AsyncSession
) -> None:
    bbox = (14.0, 66.0, 15.0, 66.5)
    expected = await _count_in(db_session, *bbox)
    assert 0 < expected < 100
    page = await get_json(client, "/api/providers/in-view", bbox=",".join(map(str, bbox)))
    assert len(page["items"]) == expected
    assert page["truncated"] is False


async def test_in_view_across_the_antimeridian(client: Client) -> None:
    chukotka = {"Chukotka East", "Chukotka West"}
    page = await get_json(client, "/api/providers/in-view", bbox="179.9,64.9,-179.9,65.1")
    assert {i["business_name"] for i in page["items"]} == chukotka
    # The edges are inside: the two providers sit exactly on them.
    page = await get_json(client, "/api/providers/in-view", bbox="179.95,64.9,-179.95,65.1")
    assert {i["business_name"] for i in page["items"]} == chukotka


async def test_in_view_geojson(client: Client) -> None:
    collection = await get_json(
        client, "/api/providers/in-view", bbox="17.9,59.2,18.2,59.4", limit=5, format="geojson"
    )
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 5
    assert collection["truncated"] is True


async def test_profile_is_public_with_services_and_no_personal_data(client: Client) -> None:
    page = await get_json(client, "/api/providers/nearby", lat=59.33, lng=18.07, limit=1)
    provider_id = page["items"][0]["id"]
    profile = await get_json(client, f"/api/providers/{provider_id}")
    assert profile["id"] == provider_id
    assert profile["services"]
    assert {s["category"] for s in profile["services"]} == set(profile["categories"])
    text = str(profile)
    for private in ("email", "password", "user_id", "address", "seed-provider"):
        assert private not in text


async def test_inactive_provider_is_not_found_and_not_searchable(
    client: Client, db_session: AsyncSession
) -> None:
    page = await get_json(client, "/api/providers/nearby", lat=59.33, lng=18.07, limit=1)
    provider_id = page["items"][0]["id"]
    provider = await db_session.get(Provider, provider_id)
    assert provider is not None
    provider.is_active = False
    await db_session.commit()
    # Searches not made before, so that no cached answer stands in for the database's.
    around = (provider.longitude - 0.01, provider.latitude - 0.01)
    bbox = (*around, provider.longitude + 0.01, provider.latitude + 0.01)
    try:
        assert (await client.get(f"/api/providers/{provider_id}")).status_code == 404
        for strategy in ("gist", "bbox", "naive"):
            again = await get_json(
                client, "/api/providers/nearby", lat=59.33, lng=18.07, limit=5, strategy=strategy
            )
            assert provider_id not in [i["id"] for i in again["items"]], strategy
        in_view = await get_json(client, "/api/providers/in-view", bbox=",".join(map(str, bbox)))
        assert provider_id not in [i["id"] for i in in_view["items"]]
    finally:
        provider.is_active = True
        await db_session.commit()
