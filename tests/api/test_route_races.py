"""Routes under concurrent requests, served by granian with two worker processes: claims
racing for orders, and changes to one route arriving together."""

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.accounts import SignedIn
from tests.support.bookings import Client, OpenProvider, open_provider
from tests.support.routes import ROUTES, assert_measured, orders_around, planned, route_body


@pytest.fixture
async def http(server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=server_url, limits=limits, timeout=30) as client:
        yield client


async def test_providers_racing_for_orders_get_each_order_once(
    client: Client, http: httpx.AsyncClient, customer: SignedIn, engine: AsyncEngine
) -> None:
    """Twelve providers at once, each claiming three of eight orders in an order of its
    own: a claim wins all its orders or is 409 naming one a winner holds, and no order is
    in two routes."""
    orders = await orders_around(client, customer, 8, seed=8)
    rivals = [await open_provider(client) for _ in range(12)]
    rng = random.Random(9)
    claims = [rng.sample(orders, 3) for _ in rivals]
    answers = await asyncio.gather(
        *(
            http.post(ROUTES, json=route_body(rival, claim), headers=rival.owner.headers)
            for rival, claim in zip(rivals, claims, strict=True)
        )
    )
    won = [
        stop["route_order_id"]
        for answer in answers
        if answer.status_code == 201
        for stop in answer.json()["stops"]
    ]
    assert won, "the first claim to lock its orders wins them"
    assert len(won) == len(set(won))
    for answer in answers:
        if answer.status_code != 201:
            assert answer.status_code == 409, answer.text
            order_id = int(answer.json()["detail"].split()[2])
            assert order_id in won
    async with engine.connect() as connection:
        held = await connection.execute(
            text(
                "SELECT route_order_id FROM route_stops"
                " WHERE route_order_id = ANY(:ids) AND route_status <> 'cancelled'"
            ),
            {"ids": [o["id"] for o in orders]},
        )
        assert sorted(held.scalars()) == sorted(won)


async def test_changes_to_one_route_at_once_all_answer_and_agree(
    client: Client,
    http: httpx.AsyncClient,
    provider: OpenProvider,
    customer: SignedIn,
    engine: AsyncEngine,
) -> None:
    """Customers cancelling, the provider reordering and completing, all at once: each
    waits its turn (no deadlock, no 500) and the stops left are numbered and measured."""
    orders = await orders_around(client, customer, 6, seed=29)
    route = await planned(client, provider, route_body(provider, orders, optimize=False))
    ids = [order["id"] for order in orders]
    owner = provider.owner.headers
    url = f"{ROUTES}/{route['id']}"
    answers = await asyncio.gather(
        http.post(f"/api/route-orders/{ids[0]}/cancel", headers=customer.headers),
        http.patch(url, json={"route_order_ids": ids[::-1]}, headers=owner),
        http.post(f"{url}/stops/{ids[2]}/done", headers=owner),
        http.post(f"/api/route-orders/{ids[4]}/cancel", headers=customer.headers),
        http.patch(url, json={"route_order_ids": ids[1:4]}, headers=owner),
        http.post(f"/api/route-orders/{ids[5]}/cancel", headers=customer.headers),
    )
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 409, 422}, [a.text for a in answers]
    after = (await client.get(url, headers=owner)).json()
    assert_measured(after, [stop["route_order_id"] for stop in after["stops"]])
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT o.id, o.status::text, s.route_id FROM route_orders o"
                " LEFT JOIN route_stops s ON s.route_order_id = o.id WHERE o.id = ANY(:ids)"
            ),
            {"ids": ids},
        )
        for order_id, status, route_id in rows:
            assert (route_id is not None) == (status in ("planned", "done")), order_id


async def test_a_cancellation_and_a_reorder_queued_on_one_route_do_not_deadlock(
    client: Client,
    http: httpx.AsyncClient,
    provider: OpenProvider,
    customer: SignedIn,
    engine: AsyncEngine,
) -> None:
    """The reorder queues for the route's first order, then a customer cancels its last
    one: the reorder, once let through, must wait for the cancellation, never the other
    way round as well (which PostgreSQL would end by failing one of them)."""
    orders = await orders_around(client, customer, 4, seed=30)
    route = await planned(client, provider, route_body(provider, orders, optimize=False))
    ids = sorted(order["id"] for order in orders)
    url = f"{ROUTES}/{route['id']}"
    async with engine.connect() as blocker:
        await blocker.execute(
            text("SELECT id FROM route_orders WHERE id = :id FOR UPDATE"), {"id": ids[0]}
        )
        body = {"route_order_ids": ids[::-1]}
        reorder = asyncio.create_task(http.patch(url, json=body, headers=provider.owner.headers))
        await asyncio.sleep(1)
        cancel_url = f"/api/route-orders/{ids[-1]}/cancel"
        cancel = await http.post(cancel_url, headers=customer.headers, timeout=10)
        assert cancel.status_code == 200, cancel.text
        await blocker.rollback()
        reordered = await reorder
    assert reordered.status_code == 422, reordered.text
    after = (await client.get(url, headers=provider.owner.headers)).json()
    assert_measured(after, ids[:-1])


async def test_a_claim_racing_a_change_that_frees_its_orders_is_201_or_409(
    client: Client, http: httpx.AsyncClient, customer: SignedIn
) -> None:
    """One provider drops its orders while another claims them: the claim either wins
    them or loses the race (409), and is never told the orders are not wanted that day."""
    holder, claimer = await open_provider(client), await open_provider(client)
    statuses = []
    for round_ in range(8):
        orders = await orders_around(client, customer, 2, seed=40 + round_)
        route = await planned(client, holder, route_body(holder, orders))
        freed, claimed = await asyncio.gather(
            http.patch(
                f"{ROUTES}/{route['id']}",
                json={"route_order_ids": []},
                headers=holder.owner.headers,
            ),
            http.post(ROUTES, json=route_body(claimer, orders), headers=claimer.owner.headers),
        )
        assert freed.status_code == 200, freed.text
        assert claimed.status_code in (201, 409), claimed.text
        statuses.append(claimed.status_code)
        if claimed.status_code == 201:  # the claimer's day is free again for the next round
            dropped = await http.patch(
                f"{ROUTES}/{claimed.json()['id']}",
                json={"route_order_ids": []},
                headers=claimer.owner.headers,
            )
            assert dropped.status_code == 200, dropped.text
    print(f"\nclaims racing a change that frees their orders: {statuses}")


async def test_two_routes_inserting_one_order_at_once_one_gets_it(
    client: Client, http: httpx.AsyncClient, provider: OpenProvider, customer: SignedIn
) -> None:
    rival = await open_provider(client)
    mine, theirs = await orders_around(client, customer, 2, seed=50, spread=0.05)
    route = await planned(client, provider, route_body(provider, [mine]))
    other = await planned(client, rival, route_body(rival, [theirs]))
    [wanted] = await orders_around(client, customer, 1, seed=51, spread=0.05)
    body = {"route_order_id": wanted["id"]}
    answers = await asyncio.gather(
        http.post(f"{ROUTES}/{route['id']}/stops", json=body, headers=provider.owner.headers),
        http.post(f"{ROUTES}/{other['id']}/stops", json=body, headers=rival.owner.headers),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    holders = [
        answer.json()
        for answer in answers
        if answer.status_code == 200
        and wanted["id"] in {s["route_order_id"] for s in answer.json()["stops"]}
    ]
    assert len(holders) == 1
