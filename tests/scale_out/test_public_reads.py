"""Public reads on the streaming replica: searches, public profiles and open route orders
go to it when it has replayed the writes they must see, to the primary otherwise (paused,
lagging or stopped), and a user's own data always comes from the primary."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from db.replica import ReplicaPolicy
from db.search_cache import EPOCH_KEY
from tests.scale_out.conftest import MAX_LAG_S
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import days_ahead
from tests.support.replica import (
    PublicReadCounts,
    caught_up,
    devstack_replica,
    pause_replay,
    received_unreplayed,
    resume_replay,
    value_of,
)

Client = AsyncTestClient[Litestar]
# In the Barents Sea, away from every other test's spot.
SPOT = {"latitude": 71.2, "longitude": 33.5}
NEARBY = {"lat": SPOT["latitude"], "lng": SPOT["longitude"], "radius_km": 20}
REPLAYED = ("replica", "replayed")


@pytest.fixture
async def replay_paused(replica_url: str) -> AsyncIterator[None]:
    await pause_replay(replica_url)
    try:
        yield
    finally:
        await resume_replay(replica_url)


@pytest.fixture
async def settled(database_url: str, replica_url: str, redis_url: str) -> None:
    """The replica has replayed everything, the app will ask it so before its next read
    (what it heard of a replica behind is trusted only so long), and no cached search
    answers anything."""
    await caught_up(database_url, replica_url)
    await asyncio.sleep(ReplicaPolicy().recheck_behind_s)
    redis = Redis.from_url(redis_url)
    await redis.incr(EPOCH_KEY)
    await redis.aclose()


async def _provider(client: Client, name: str) -> tuple[SignedIn, int]:
    owner = await sign_up(client, "provider")
    created = await client.post(
        "/api/providers", json={"business_name": name, **SPOT}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    return owner, created.json()["id"]


async def _names_nearby(client: Client) -> set[str]:
    response = await client.get("/api/providers/nearby", params=NEARBY)
    assert response.status_code == 200, response.text
    return {item["business_name"] for item in response.json()["items"]}


async def _replica_says(replica_url: str, provider_id: int) -> Any:
    return await value_of(
        replica_url, "SELECT business_name FROM providers WHERE id = $1", provider_id
    )


async def test_a_search_is_read_from_the_replica(replica_client: Client, settled: None) -> None:
    counts = PublicReadCounts()
    assert (await replica_client.get("/api/providers/nearby", params=NEARBY)).status_code == 200
    assert counts.since() == {REPLAYED: 1}


async def test_a_write_is_seen_at_once_though_the_replica_has_not_replayed_it(
    replica_client: Client,
    database_url: str,
    replica_url: str,
    redis_url: str,
) -> None:
    old_name = f"Före {uuid.uuid4().hex[:6]}"
    owner, provider_id = await _provider(replica_client, old_name)
    await caught_up(database_url, replica_url)
    assert old_name in await _names_nearby(replica_client)

    new_name = f"Efter {uuid.uuid4().hex[:6]}"
    await pause_replay(replica_url)
    try:
        counts = PublicReadCounts()
        renamed = await replica_client.patch(
            f"/api/providers/{provider_id}", json={"business_name": new_name}, headers=owner.headers
        )
        assert renamed.status_code == 200, renamed.text
        names = await _names_nearby(replica_client)
        profile = await replica_client.get(f"/api/providers/{provider_id}")
        assert await _replica_says(replica_url, provider_id) == old_name  # still behind
    finally:
        await resume_replay(replica_url)
    assert new_name in names
    assert old_name not in names
    assert profile.json()["business_name"] == new_name
    assert counts.since() == {("primary", "not_replayed"): 2}

    await caught_up(database_url, replica_url)
    # What the app last heard of the replica (behind) is trusted for this long; after it,
    # the next read asks again.
    await asyncio.sleep(ReplicaPolicy().recheck_behind_s)
    redis = Redis.from_url(redis_url)
    await redis.incr(EPOCH_KEY)  # the page cached from the primary would answer otherwise
    await redis.aclose()
    counts = PublicReadCounts()
    assert new_name in await _names_nearby(replica_client)
    assert counts.since() == {REPLAYED: 1}


async def test_own_data_and_new_open_orders_come_from_the_primary_while_replay_is_paused(
    replica_client: Client, settled: None, replay_paused: None
) -> None:
    customer = await sign_up(replica_client, "customer")
    provider = await sign_up(replica_client, "provider")
    day = days_ahead(5)
    latitude, longitude = SPOT["latitude"] + 0.5, SPOT["longitude"]
    draft = {
        "category": "farrier",
        "latitude": latitude,
        "longitude": longitude,
        "earliest": day.isoformat(),
        "latest": day.isoformat(),
    }
    counts = PublicReadCounts()
    placed = await replica_client.post("/api/route-orders", json=draft, headers=customer.headers)
    assert placed.status_code == 201, placed.text

    mine = await replica_client.get("/api/route-orders/mine", headers=customer.headers)
    assert placed.json()["id"] in {item["id"] for item in mine.json()["items"]}
    assert counts.since() == {}  # not a public read

    available = await replica_client.get(
        "/api/route-orders/available",
        params={"lat": latitude, "lng": longitude, "date": day.isoformat()},
        headers=provider.headers,
    )
    assert placed.json()["id"] in {item["id"] for item in available.json()["items"]}
    assert counts.since() == {("primary", "not_replayed"): 1}


async def test_a_replica_far_behind_serves_nothing_until_it_catches_up(
    replica_client: Client, database_url: str, replica_url: str, settled: None
) -> None:
    await pause_replay(replica_url)
    try:
        await sign_up(replica_client, "customer")  # WAL the replica receives, not replays
        await received_unreplayed(replica_url)
        await asyncio.sleep(MAX_LAG_S + ReplicaPolicy().recheck_s)
        counts = PublicReadCounts()
        assert (await replica_client.get("/api/providers/nearby", params=NEARBY)).status_code == 200
        assert counts.since() == {("primary", "lagging"): 1}
    finally:
        await resume_replay(replica_url)
    await caught_up(database_url, replica_url)
    await asyncio.sleep(ReplicaPolicy().recheck_s)
    counts = PublicReadCounts()
    response = await replica_client.get("/api/providers/nearby", params={**NEARBY, "limit": 3})
    assert response.status_code == 200
    assert counts.since() == {REPLAYED: 1}


async def test_with_the_replica_stopped_searches_are_answered_by_the_primary(
    replica_client: Client, database_url: str, replica_url: str, settled: None
) -> None:
    _, provider_id = await _provider(replica_client, "Stoppad")
    devstack_replica("stop")
    try:
        counts = PublicReadCounts()
        for radius_km in (20, 21, 22):
            response = await replica_client.get(
                "/api/providers/nearby", params={**NEARBY, "radius_km": radius_km}
            )
            assert response.status_code == 200, response.text
        profile = await replica_client.get(f"/api/providers/{provider_id}")
        assert profile.status_code == 200, profile.text
        assert counts.since() == {("primary", "down"): 4}
    finally:
        devstack_replica("start")
    await caught_up(database_url, replica_url)
    await asyncio.sleep(ReplicaPolicy().rest_s)
    counts = PublicReadCounts()
    assert (await replica_client.get(f"/api/providers/{provider_id}")).status_code == 200
    assert counts.since() == {REPLAYED: 1}
