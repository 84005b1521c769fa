"""Changing a planned route: reordering and dropping stops, and customers cancelling
planned orders; each measures the route again."""

from typing import Any

import pytest

from tests.support.accounts import SignedIn
from tests.support.bookings import Client, OpenProvider, open_provider
from tests.support.routes import (
    PLANNING,
    ROUTES,
    assert_measured,
    orders_around,
    planned,
    route_body,
)


async def changed(
    client: Client, provider: OpenProvider, route: dict[str, Any], order_ids: list[int]
) -> dict[str, Any]:
    response = await client.patch(
        f"{ROUTES}/{route['id']}",
        json={"route_order_ids": order_ids},
        headers=provider.owner.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def statuses(client: Client, customer: SignedIn) -> dict[int, str]:
    mine = await client.get("/api/route-orders/mine", headers=customer.headers)
    return {order["id"]: order["status"] for order in mine.json()["items"]}


async def notices(client: Client, user: SignedIn, kind: str) -> list[dict[str, Any]]:
    response = await client.get("/api/notifications", headers=user.headers)
    return [n["payload"] for n in response.json()["items"] if n["kind"] == kind]


async def test_reordering_stops_measures_legs_arrivals_and_total_anew(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 5, seed=21)
    route = await planned(client, provider, route_body(provider, orders))
    reversed_ids = [stop["route_order_id"] for stop in route["stops"]][::-1]
    reordered = await changed(client, provider, route, reversed_ids)
    assert_measured(reordered, reversed_ids)
    read = await client.get(f"{ROUTES}/{route['id']}", headers=provider.owner.headers)
    assert read.json() == reordered


async def test_dropped_stops_open_their_orders_again_and_their_customers_are_told(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 4, seed=22)
    route = await planned(client, provider, route_body(provider, orders, optimize=False))
    ids = [order["id"] for order in orders]
    kept = [ids[3], ids[1]]
    after = await changed(client, provider, route, kept)
    assert_measured(after, kept)
    assert after["status"] == "planned"
    assert await statuses(client, customer) == {
        ids[0]: "open",
        ids[1]: "planned",
        ids[2]: "open",
        ids[3]: "planned",
    }
    told = await notices(client, customer, "route_unplanned")
    assert sorted(n["route_order_id"] for n in told) == [ids[0], ids[2]]
    assert {n["route_id"] for n in told} == {route["id"]}
    other = await open_provider(client, owner=provider.owner)  # the provider's day is taken
    again = await planned(client, other, route_body(other, [orders[0], orders[2]]))
    assert len(again["stops"]) == 2


async def test_dropping_every_stop_cancels_the_route(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 2, seed=23)
    route = await planned(client, provider, route_body(provider, orders))
    after = await changed(client, provider, route, [])
    assert (after["status"], after["stops"], after["total_distance_m"]) == ("cancelled", [], 0)
    assert set((await statuses(client, customer)).values()) == {"open"}
    assert after == await changed_again_is_409(client, provider, route)


async def changed_again_is_409(
    client: Client, provider: OpenProvider, route: dict[str, Any]
) -> dict[str, Any]:
    url = f"{ROUTES}/{route['id']}"
    response = await client.patch(url, json={"route_order_ids": []}, headers=provider.owner.headers)
    assert response.status_code == 409, response.text
    body: dict[str, Any] = (await client.get(url, headers=provider.owner.headers)).json()
    return body


async def test_a_visit_made_stays_and_a_done_route_does_not_change(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    first, second = await orders_around(client, customer, 2, seed=24)
    route = await planned(client, provider, route_body(provider, [first, second], optimize=False))
    owner = provider.owner.headers
    done = f"{ROUTES}/{route['id']}/stops/{first['id']}/done"
    assert (await client.post(done, headers=owner)).status_code == 200
    url = f"{ROUTES}/{route['id']}"
    dropped = await client.patch(url, json={"route_order_ids": [second["id"]]}, headers=owner)
    assert (dropped.status_code, dropped.json()["detail"]) == (
        409,
        f"the visit to route order {first['id']} is done",
    )
    after = await changed(client, provider, route, [first["id"]])
    assert (after["status"], [s["status"] for s in after["stops"]]) == ("done", ["done"])
    assert (await statuses(client, customer))[second["id"]] == "open"
    assert after == await changed_again_is_409(client, provider, route)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"route_order_ids": [1, 1]}, "must not repeat"),
        ({"route_order_ids": list(range(1, PLANNING.max_stops + 2))}, "at most 50 stops"),
        ({"route_order_ids": ["one"]}, "route_order_ids"),
        ({"route_order_ids": [0]}, "route_order_ids"),
        ({}, "route_order_ids"),
        ({"route_order_ids": [], "optimize": True}, "optimize"),
    ],
)
async def test_bad_route_changes_are_400(
    client: Client, provider: OpenProvider, body: dict[str, Any], detail: str
) -> None:
    response = await client.patch(f"{ROUTES}/1", json=body, headers=provider.owner.headers)
    assert response.status_code == 400, response.text
    assert detail in response.text


async def test_an_order_off_the_route_is_422_and_nothing_changes(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    on_route, off_route = await orders_around(client, customer, 2, seed=25)
    route = await planned(client, provider, route_body(provider, [on_route]))
    url = f"{ROUTES}/{route['id']}"
    body = {"route_order_ids": [off_route["id"]]}
    response = await client.patch(url, json=body, headers=provider.owner.headers)
    assert (response.status_code, response.json()["detail"]) == (
        422,
        f"route order {off_route['id']} is not a stop of route {route['id']}",
    )
    assert (await client.get(url, headers=provider.owner.headers)).json() == route


async def test_someone_elses_route_is_404_to_change_and_nothing_changes(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 2, seed=26)
    route = await planned(client, provider, route_body(provider, orders))
    stranger = await open_provider(client)
    url = f"{ROUTES}/{route['id']}"
    response = await client.patch(url, json={"route_order_ids": []}, headers=stranger.owner.headers)
    assert response.status_code == 404
    assert (await client.get(url, headers=provider.owner.headers)).json() == route
    assert set((await statuses(client, customer)).values()) == {"planned"}


async def test_cancelling_a_planned_order_takes_it_off_its_route(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 3, seed=27)
    route = await planned(client, provider, route_body(provider, orders, optimize=False))
    ids = [order["id"] for order in orders]
    cancel = await client.post(f"/api/route-orders/{ids[1]}/cancel", headers=customer.headers)
    assert (cancel.status_code, cancel.json()["status"]) == (200, "cancelled")
    url = f"{ROUTES}/{route['id']}"
    after = (await client.get(url, headers=provider.owner.headers)).json()
    assert_measured(after, [ids[0], ids[2]])
    assert await notices(client, provider.owner, "route_order_cancelled") == [
        {"route_id": route["id"], "route_order_id": ids[1]}
    ]
    for order_id in (ids[0], ids[2]):
        await client.post(f"/api/route-orders/{order_id}/cancel", headers=customer.headers)
    emptied = (await client.get(url, headers=provider.owner.headers)).json()
    assert (emptied["status"], emptied["stops"]) == ("cancelled", [])
    assert set((await statuses(client, customer)).values()) == {"cancelled"}


async def test_a_visited_order_cannot_be_cancelled(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    [order] = await orders_around(client, customer, 1, seed=28)
    route = await planned(client, provider, route_body(provider, [order]))
    done = f"{ROUTES}/{route['id']}/stops/{order['id']}/done"
    await client.post(done, headers=provider.owner.headers)
    cancel = await client.post(f"/api/route-orders/{order['id']}/cancel", headers=customer.headers)
    assert (cancel.status_code, cancel.json()["detail"]) == (
        409,
        f"route order {order['id']} is done: it can't be cancelled",
    )
