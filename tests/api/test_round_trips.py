"""Counted on the wire between the app and PostgreSQL: an index-ordered search, once its
connection has prepared the statement, is one round trip, and a cached answer is none."""

import asyncio
from datetime import date, timedelta

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from app.main import create_app
from app.settings import Settings
from db.search_cache import EPOCH_KEY
from tests.support.accounts import sign_up
from tests.support.wire import Relay, counting_relay

Client = AsyncTestClient[Litestar]
Params = dict[str, str | float]
CACHED_SEARCHES: dict[str, Params] = {
    "/api/providers/nearby": {"lat": 59.3311, "lng": 18.0601, "limit": 20},
    "/api/providers/in-view": {"bbox": "17.91,59.21,18.21,59.41"},
}


async def round_trips_of(
    client: Client, relay: Relay, path: str, params: Params, headers: dict[str, str] | None = None
) -> int:
    """The round trips of one 200 answer. A session may end after its answer is sent:
    counting waits for the conversation to settle."""
    relay.forget()
    answer = await client.get(path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    await asyncio.sleep(0.1)
    return relay.round_trips


@pytest.mark.parametrize("path", list(CACHED_SEARCHES))
async def test_an_uncached_search_is_one_round_trip_and_a_hit_none(
    settings: Settings, redis_url: str, path: str
) -> None:
    redis = Redis.from_url(redis_url)
    params = CACHED_SEARCHES[path]
    with counting_relay(settings.database_url) as relay:
        app = create_app(msgspec.structs.replace(settings, database_url=relay.url))
        async with AsyncTestClient(app=app) as client:
            await redis.incr(EPOCH_KEY)
            await client.get(path, params=params)  # connects and prepares
            await redis.incr(EPOCH_KEY)
            assert await round_trips_of(client, relay, path, params) == 1
            assert await round_trips_of(client, relay, path, params) == 0
    await redis.aclose()


async def test_available_route_orders_are_one_round_trip(settings: Settings) -> None:
    params: Params = {
        "lat": 64.6,
        "lng": 18.7,
        "radius_km": 50,
        "date": str(date.today() + timedelta(5)),
    }
    with counting_relay(settings.database_url) as relay:
        app = create_app(msgspec.structs.replace(settings, database_url=relay.url))
        async with AsyncTestClient(app=app) as client:
            provider = await sign_up(client, "provider")
            path = "/api/route-orders/available"
            await client.get(path, params=params, headers=provider.headers)
            trips = await round_trips_of(
                client, relay, path, params=params, headers=provider.headers
            )
            assert trips == 1
