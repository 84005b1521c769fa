"""Clusters for zoomed-out maps, held against every active provider grouped by hand
(tests.support.clusters): kept counts up to zoom 12, grouped providers beyond."""

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Provider
from geo.viewport import parse_viewport
from tests.support.bookings import Client, OpenProvider
from tests.support.clusters import active_providers, clusters_in

pytestmark = pytest.mark.pgbouncer


async def _clusters(client: Client, bbox: str, zoom: int, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/providers/clusters", params={"bbox": bbox, "zoom": zoom, **params}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _assert_as_counted_by_hand(
    client: Client, session: AsyncSession, bbox: str, zoom: int, category: str | None = None
) -> list[dict[str, Any]]:
    params = {} if category is None else {"category": category}
    items = await _clusters(client, bbox, zoom, **params)
    expected = clusters_in(await active_providers(session), parse_viewport(bbox), zoom, category)
    got = sorted((c["latitude"], c["longitude"], c["count"]) for c in items)
    assert [count for *_, count in got] == [count for *_, count in expected]
    for (lat, lng, _), (want_lat, want_lng, _) in zip(got, expected, strict=True):
        assert (lat, lng) == pytest.approx((want_lat, want_lng), abs=1e-9)
    counts = [c["count"] for c in items]
    assert counts == sorted(counts, reverse=True)  # the largest first
    return items


@pytest.mark.parametrize(
    ("bbox", "zoom"),
    [
        ("4,54,32,71", 3),
        ("4,54,32,71", 5),
        ("10,55,25,70", 8),
        ("17.5,59,18.6,59.6", 12),
        ("17.9,59.2,18.2,59.45", 13),
        ("18,59.3,18.1,59.35", 16),
    ],
)
async def test_clusters_are_the_cells_whose_centroid_is_in_view(
    client: Client, db_session: AsyncSession, bbox: str, zoom: int
) -> None:
    items = await _assert_as_counted_by_hand(client, db_session, bbox, zoom)
    assert len(items) > 1


@pytest.mark.parametrize("zoom", [4, 14])
async def test_clusters_of_one_category(
    client: Client, db_session: AsyncSession, zoom: int
) -> None:
    bbox = "10,55,25,70" if zoom < 10 else "17.9,59.2,18.2,59.45"
    dentists = await _assert_as_counted_by_hand(client, db_session, bbox, zoom, "dentist")
    every = await _clusters(client, bbox, zoom)
    assert 0 < sum(c["count"] for c in dentists) < sum(c["count"] for c in every)


@pytest.mark.parametrize("zoom", [0, 2])
async def test_the_world_holds_every_provider_once(
    client: Client, db_session: AsyncSession, zoom: int
) -> None:
    active = await db_session.scalar(select(func.count()).where(Provider.is_active))
    world = await _clusters(client, "-180,-90,180,90", zoom)
    assert sum(c["count"] for c in world) == active


@pytest.mark.parametrize("zoom", [12, 14])
async def test_clusters_across_the_antimeridian(
    client: Client, db_session: AsyncSession, zoom: int
) -> None:
    items = await _assert_as_counted_by_hand(client, db_session, "179.9,64.9,-179.9,65.1", zoom)
    assert sorted(c["longitude"] for c in items) == [-179.95, 179.95]


@pytest.mark.parametrize("zoom", [9, 15])
async def test_a_moved_provider_moves_between_clusters_at_once(
    client: Client, db_session: AsyncSession, provider: OpenProvider, zoom: int
) -> None:
    # Around the providers the tests open and where this one goes, or where it goes alone.
    bbox = "4.8,66.8,5.7,67.6" if zoom < 12 else "5.6,67.45,5.7,67.55"
    await _assert_as_counted_by_hand(client, db_session, bbox, zoom)
    place = {"latitude": 67.5, "longitude": 5.5 + zoom / 100}
    moved = await client.patch(
        f"/api/providers/{provider.id}",
        json=place,
        headers=provider.owner.headers,
    )
    assert moved.status_code == 200, moved.text
    items = await _assert_as_counted_by_hand(client, db_session, bbox, zoom)
    alone = {"latitude": place["latitude"], "longitude": place["longitude"], "count": 1}
    assert alone in items


async def test_a_provider_outside_the_view_in_one_of_its_cells_changes_its_clusters(
    client: Client, provider: OpenProvider
) -> None:
    """A cluster counts its whole cell: a cached view must not outlive a write anywhere
    in the cells it shows, even outside the view itself."""
    zoom = 2  # cells of 22.5 degrees: the provider, at 67°N 5°E, is in the seeded ones'
    biggest = (await _clusters(client, "0,45,22.5,67.5", zoom))[0]
    lat, lng = biggest["latitude"], biggest["longitude"]
    view = f"{lng - 0.1},{lat - 0.1},{lng + 0.1},{lat + 0.1}"
    before = await _clusters(client, view, zoom)
    deleted = await client.delete(f"/api/providers/{provider.id}", headers=provider.owner.headers)
    assert deleted.status_code == 204, deleted.text
    after = await _clusters(client, view, zoom)
    assert [c["count"] for c in after] == [before[0]["count"] - 1]
