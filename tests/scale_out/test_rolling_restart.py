"""A rolling restart of the instances behind nginx (SIGHUP to make serve-cluster) under a
steady load of searches and bookings: every request is answered, every booking kept. A
request sent on a kept-alive connection that nginx closes as it reloads gets no answer
and was not done; a GET is sent again (tests.support.http), a POST is counted."""

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from app.settings import Settings
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import OpenProvider, days_ahead, every_page, open_provider, stockholm
from tests.support.http import CLOSED_UNANSWERED, get
from tests.support.live_server import settings_environment
from tests.support.nginx_cluster import Cluster, rolling_restart, serving_cluster

ROLL_TIMEOUT_S = 90.0
SEARCHERS = 4


@pytest.fixture(scope="module")
def rolling(settings: Settings) -> Iterator[Cluster]:
    environment = {**settings_environment(settings), "DRAIN_S": "1"}
    with serving_cluster(environment, instances=2) as cluster:
        yield cluster


async def _search(client: httpx.AsyncClient, seen: Counter[str], rolled: asyncio.Event) -> None:
    n = 0
    while not rolled.is_set():
        n += 1
        params = {"lat": 59 + (n % 50) / 100, "lng": 17.6, "radius_km": 10}
        try:
            answer = await get(client, "/api/providers/nearby", params)
            seen[str(answer.status_code)] += 1
        except httpx.HTTPError as error:
            seen[type(error).__name__] += 1


async def _book(
    client: httpx.AsyncClient,
    provider: OpenProvider,
    customer: SignedIn,
    booked: list[int],
    seen: Counter[str],
    rolled: asyncio.Event,
) -> None:
    """Book one fresh slot after another; the ids answered 201 go to `booked`, every
    outcome (a status, or an error's name) is counted in `seen`."""
    n = 0
    while not rolled.is_set():
        start = stockholm(days_ahead(3) + timedelta(days=n // 8), 8 + n % 8)
        n += 1
        try:
            answer = await client.post(
                "/api/bookings", json=provider.booking(start), headers=customer.headers
            )
        except httpx.HTTPError as error:
            seen[type(error).__name__] += 1
            continue
        seen[str(answer.status_code)] += 1
        if answer.status_code == 201:
            booked.append(answer.json()["id"])


async def _rolled(cluster: Cluster, rolled: asyncio.Event) -> float:
    try:
        return await asyncio.to_thread(rolling_restart, cluster.directory, ROLL_TIMEOUT_S)
    finally:
        rolled.set()


async def test_a_rolling_restart_loses_no_request_and_no_booking(rolling: Cluster) -> None:
    async with httpx.AsyncClient(base_url=rolling.url, timeout=30) as client:
        provider = await open_provider(client)
        customer = await sign_up(client, "customer")
        searched: Counter[str] = Counter()
        posted: Counter[str] = Counter()
        booked: list[int] = []
        rolled = asyncio.Event()
        load = [_search(client, searched, rolled) for _ in range(SEARCHERS)]
        load.append(_book(client, provider, customer, booked, posted, rolled))
        roll = asyncio.create_task(_rolled(rolling, rolled))
        await asyncio.gather(roll, *load)
        took_s = roll.result()
    async with httpx.AsyncClient(base_url=rolling.url, timeout=30) as client:  # new connections
        kept = await every_page(client, customer, "/api/bookings", {"limit": 100})
    assert set(searched) == {"200"}, searched  # every GET answered (sent again once if closed)
    assert searched["200"] > 50
    closed = {error.__name__ for error in CLOSED_UNANSWERED}
    assert set(posted) <= {"201", *closed}, posted  # every POST answered, unless closed
    unanswered = sum(posted[name] for name in closed)
    assert len(booked) > 5
    kept_ids = {booking["id"] for booking in kept}
    assert kept_ids >= set(booked)  # every booking answered 201 is there
    # and the only others are what a POST closed before any answer may have booked
    assert len(kept_ids) - len(booked) <= unanswered
    assert took_s < ROLL_TIMEOUT_S
