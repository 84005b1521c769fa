"""Orders say when and how long: a window of arrival on the provider's clock and a number
of horses; a visit lasts the provider's service that many times, and a plan that would
reach an order outside its window is refused, naming it."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.accounts import SignedIn
from tests.support.bookings import Client, OpenProvider, stockholm
from tests.support.routes import DAY, HOME, ROUTES, orders_around, planned, route_body

ORDERS = "/api/route-orders"
AT_HOME = {"latitude": HOME.latitude, "longitude": HOME.longitude}
# A stable 30 km north: half an hour's drive at 60 km/h.
NORTH = {"latitude": HOME.latitude + 30 / 111.195, "longitude": HOME.longitude}


async def _order(client: Client, customer: SignedIn, **fields: Any) -> dict[str, Any]:
    [order] = await orders_around(client, customer, 1, **(AT_HOME | fields))
    return order


def _eta(route: dict[str, Any], position: int) -> datetime:
    return datetime.fromisoformat(route["stops"][position]["eta"])


async def test_an_order_says_its_window_and_horses_and_providers_see_them(
    client: Client, customer: SignedIn, provider: OpenProvider
) -> None:
    order = await _order(client, customer, arrive_after="09:00", arrive_before="12:30", horses=3)
    assert (order["arrive_after"], order["arrive_before"], order["horses"]) == ("09:00", "12:30", 3)
    plain = await _order(client, customer)
    assert (plain["arrive_after"], plain["arrive_before"], plain["horses"]) == (None, None, 1)
    params: dict[str, str | float] = {"lat": HOME.latitude, "lng": HOME.longitude}
    params |= {"radius_km": 1, "date": DAY.isoformat()}
    listed = await client.get(f"{ORDERS}/available", params=params, headers=provider.owner.headers)
    assert listed.status_code == 200, listed.text
    [seen] = [item for item in listed.json()["items"] if item["id"] == order["id"]]
    assert (seen["arrive_after"], seen["arrive_before"], seen["horses"]) == ("09:00", "12:30", 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"arrive_after": "12:00", "arrive_before": "12:00"},
        {"arrive_after": "13:00", "arrive_before": "09:00"},
        {"arrive_after": "9:00"},
        {"arrive_before": "24:00"},
        {"arrive_after": "08:00:00"},
        {"horses": 0},
        {"horses": 21},
    ],
)
async def test_bad_windows_and_herds_are_400(
    client: Client, customer: SignedIn, fields: dict[str, Any]
) -> None:
    body = AT_HOME | {"category": "farrier", "earliest": DAY.isoformat()} | fields
    response = await client.post(
        ORDERS, json=body | {"latest": DAY.isoformat()}, headers=customer.headers
    )
    assert response.status_code == 400, response.text


async def test_a_visit_lasts_the_providers_service_times_the_horses(
    client: Client, customer: SignedIn, provider: OpenProvider
) -> None:
    herd = await _order(client, customer, horses=3)
    after = await _order(client, customer, **NORTH)
    route = await planned(client, provider, route_body(provider, [herd, after], optimize=False))
    assert route["stops"][0]["service_minutes"] == 3 * 60
    drive = timedelta(minutes=30)
    expected = _eta(route, 0) + timedelta(minutes=180) + drive
    assert abs(_eta(route, 1) - expected) < timedelta(seconds=5)
    # The break is as late as finishing first allows: after the second visit, not before.
    second_ends = _eta(route, 1) + timedelta(minutes=60)
    assert datetime.fromisoformat(route["break"]["start"]) >= second_ends


async def test_a_visit_waits_for_its_window_to_open(
    client: Client, customer: SignedIn, provider: OpenProvider
) -> None:
    late = await _order(client, customer, arrive_after="10:00")
    route = await planned(client, provider, route_body(provider, [late]))
    assert _eta(route, 0) == stockholm(DAY, 10)  # reached at 08:00, started at 10:00
    early = await _order(client, customer, arrive_after="07:30", arrive_before="08:00")
    route = await planned(client, provider, route_body(provider, [early]))
    assert _eta(route, 0) == stockholm(DAY, 8)


async def test_a_re_plan_that_would_miss_a_window_is_422_and_changes_nothing(
    client: Client, customer: SignedIn, provider: OpenProvider
) -> None:
    first = await _order(client, customer, arrive_before="08:15")
    second = await _order(client, customer, **NORTH)
    route = await planned(client, provider, route_body(provider, [first, second], optimize=False))
    refused = await client.patch(
        f"{ROUTES}/{route['id']}",
        json={"route_order_ids": [second["id"], first["id"]]},
        headers=provider.owner.headers,
    )
    assert refused.status_code == 422, refused.text
    assert f"route order {first['id']}" in refused.json()["detail"]
    again = await client.get(f"{ROUTES}/{route['id']}", headers=provider.owner.headers)
    assert again.json()["stops"] == route["stops"]
