"""One timeline per provider: a booking and a planned route visit can never overlap,
whichever comes first, and ending either frees its time (db.commitments)."""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.distance import Point
from tests.support.accounts import SignedIn
from tests.support.bookings import (
    Client,
    OpenProvider,
    booked,
    open_provider,
    request_booking,
    stockholm,
)
from tests.support.day_check import Busy, DayRulesSeen, check_day
from tests.support.routes import DAY, HOME, PLANNING, ROUTES, orders_around, planned, route_body

SERVICE_MINUTES = 60
# A stable this far from the provider is an hour and a quarter's drive away.
FAR_LATITUDE = HOME.latitude + PLANNING.speed_kmh * 1.25 / 111.195


@pytest.fixture
async def provider(client: Client) -> OpenProvider:
    return await open_provider(client, duration_minutes=SERVICE_MINUTES)


async def _order_at(client: Client, customer: SignedIn, latitude: float) -> dict[str, Any]:
    [order] = await orders_around(client, customer, 1, latitude=latitude, longitude=HOME.longitude)
    return order


def _visit(route: dict[str, Any], position: int) -> tuple[datetime, datetime]:
    eta = datetime.fromisoformat(route["stops"][position]["eta"])
    return eta, eta + timedelta(minutes=SERVICE_MINUTES)


def _conflict(response: httpx.Response) -> tuple[str, datetime, datetime]:
    """The kind and times of the commitment a 409 names."""
    assert response.status_code == 409, response.text
    conflict = response.json()["extra"]["conflict"]
    assert set(conflict) == {"kind", "start", "end"}  # nothing of whose it is
    start, end = (datetime.fromisoformat(conflict[bound]) for bound in ("start", "end"))
    return conflict["kind"], start, end


async def test_a_booking_into_a_planned_visit_is_409_naming_the_visit(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    order = await _order_at(client, customer, HOME.latitude)
    route = await planned(client, provider, route_body(provider, [order]))
    start, end = _visit(route, 0)  # 08:00, the stable being where the provider is
    assert start == stockholm(DAY, 8)
    refused = await request_booking(client, customer, provider, start + timedelta(minutes=30))
    assert _conflict(refused) == ("visit", start, end)
    assert "the provider has a visit from" in refused.json()["detail"]
    assert await booked(client, customer, provider, end) > 0  # touching is not overlapping


async def _routes_of(client: Client, provider: OpenProvider) -> list[dict[str, Any]]:
    day = {"date": DAY.isoformat()}
    listed = await client.get(ROUTES, params=day, headers=provider.owner.headers)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


async def test_a_route_is_planned_around_a_booking_never_over_it(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    await booked(client, customer, provider, stockholm(DAY, 8, 30))
    order = await _order_at(client, customer, HOME.latitude)
    route = await planned(client, provider, route_body(provider, [order]))
    assert _visit(route, 0)[0] == stockholm(DAY, 9, 30)  # after the booking, at the stable
    booking = Busy(stockholm(DAY, 8, 30), stockholm(DAY, 9, 30), HOME, "booking")
    check_day(route, DayRulesSeen(DAY, commitments=[booking]), {order["id"]: order})


async def test_a_reorder_keeps_its_order_around_a_booking(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    """[near, far]: `far` is visited 10:15-11:15, then the same stable is booked from the
    next whole minute for an hour; [far, near] visits far first, then keeps the booking
    there, then drives back to near."""
    reach = {"service_radius_km": 100}
    widened = await client.patch(
        f"/api/providers/{provider.id}", json=reach, headers=provider.owner.headers
    )
    assert widened.status_code == 200, widened.text
    near = await _order_at(client, customer, HOME.latitude)
    far = await _order_at(client, customer, FAR_LATITUDE)
    route = await planned(client, provider, route_body(provider, [near, far], optimize=False))
    far_ends = _visit(route, 1)[1]
    far_ends += timedelta(seconds=-far_ends.second, microseconds=-far_ends.microsecond, minutes=1)
    at_far = {"latitude": FAR_LATITUDE, "longitude": HOME.longitude}
    booking = provider.booking(far_ends, **at_far)
    made = await client.post("/api/bookings", json=booking, headers=customer.headers)
    assert made.status_code == 201, made.text
    changed = await client.patch(
        f"{ROUTES}/{route['id']}",
        json={"route_order_ids": [far["id"], near["id"]]},
        headers=provider.owner.headers,
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert [stop["route_order_id"] for stop in after["stops"]] == [far["id"], near["id"]]
    busy = Busy(far_ends, far_ends + timedelta(minutes=60), Point(**at_far), "booking")
    orders = {near["id"]: near, far["id"]: far}
    check_day(after, DayRulesSeen(DAY, commitments=[busy]), orders)


async def test_cancelling_a_booking_frees_its_time_for_a_route(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_id = await booked(client, customer, provider, stockholm(DAY, 8))
    cancelled = await client.post(f"/api/bookings/{booking_id}/cancel", headers=customer.headers)
    assert cancelled.status_code == 200, cancelled.text
    order = await _order_at(client, customer, HOME.latitude)
    await planned(client, provider, route_body(provider, [order]))


@pytest.mark.parametrize("ending", ["route cancelled", "visit done"])
async def test_ending_a_visit_frees_its_time_for_a_booking(
    client: Client, provider: OpenProvider, customer: SignedIn, ending: str
) -> None:
    order = await _order_at(client, customer, HOME.latitude)
    route = await planned(client, provider, route_body(provider, [order]))
    owner = provider.owner.headers
    if ending == "route cancelled":
        body: dict[str, list[int]] = {"route_order_ids": []}
        ended = await client.patch(f"{ROUTES}/{route['id']}", json=body, headers=owner)
    else:
        ended = await client.post(f"{ROUTES}/{route['id']}/stops/{order['id']}/done", headers=owner)
    assert ended.status_code == 200, ended.text
    assert await booked(client, customer, provider, _visit(route, 0)[0]) > 0


async def test_every_booking_and_stop_holds_its_time_as_its_status_says(
    engine: AsyncEngine,
) -> None:
    """Over the whole suite's data so far: the commitments are exactly the bookings' and
    the stops' ranges, active as their statuses say, and no two active ones of a provider
    overlap."""
    async with engine.connect() as connection:
        astray = await connection.scalar(
            text(
                """
                WITH expected AS (
                    SELECT provider_id, 'booking'::commitment_kind AS kind, id AS booking_id,
                        NULL::bigint AS route_stop_id, during,
                        status IN ('pending', 'confirmed') AS active
                    FROM bookings
                    UNION ALL
                    SELECT routes.provider_id, 'visit', NULL, stop.id,
                        tstzrange(stop.eta, stop.eta + make_interval(mins => stop.service_minutes)),
                        stop.status = 'planned' AND stop.route_status = 'planned'
                    FROM route_stops stop JOIN routes ON routes.id = stop.route_id
                ), kept AS (
                    SELECT provider_id, kind, booking_id, route_stop_id, during, active
                    FROM commitments
                )
                SELECT count(*) FROM (
                    (SELECT * FROM expected EXCEPT ALL SELECT * FROM kept)
                    UNION ALL (SELECT * FROM kept EXCEPT ALL SELECT * FROM expected)
                ) AS astray
                """
            )
        )
        overlapping = await connection.scalar(
            text(
                "SELECT count(*) FROM commitments a JOIN commitments b"
                " ON a.provider_id = b.provider_id AND a.id < b.id AND a.during && b.during"
                " WHERE a.active AND b.active"
            )
        )
    assert (astray, overlapping) == (0, 0)


async def test_a_booking_happens_at_its_stable_an_address_or_the_provider(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    at_stable = provider.booking(stockholm(DAY, 8), latitude=66.5, longitude=5.25)
    at_address = provider.booking(stockholm(DAY + timedelta(days=1), 8), address="Uppsala")
    at_provider = provider.booking(stockholm(DAY + timedelta(days=2), 8))
    places = []
    for body in (at_stable, at_address, at_provider):
        made = await client.post("/api/bookings", json=body, headers=customer.headers)
        assert made.status_code == 201, made.text
        places.append((made.json()["latitude"], made.json()["longitude"]))
    assert places == [(66.5, 5.25), (59.85882, 17.63889), (HOME.latitude, HOME.longitude)]
    both = provider.booking(stockholm(DAY, 15), latitude=66.5, longitude=5.25, address="Uppsala")
    refused = await client.post("/api/bookings", json=both, headers=customer.headers)
    assert refused.status_code == 400, refused.text


@pytest.mark.parametrize(
    ("start", "allowed"),
    [((9, 0), False), ((10, 15), False), ((10, 16), True)],
    ids=["no time to drive", "a minute short", "time to drive"],
)
async def test_a_booking_leaves_the_provider_time_to_drive_from_the_one_before(
    client: Client,
    provider: OpenProvider,
    customer: SignedIn,
    start: tuple[int, int],
    allowed: bool,
) -> None:
    """08:00-09:00 at the provider's, then a stable 75 minutes' drive away: from 10:15
    (and a few seconds) on."""
    await booked(client, customer, provider, stockholm(DAY, 8))
    far = provider.booking(stockholm(DAY, *start), latitude=FAR_LATITUDE, longitude=HOME.longitude)
    answer = await client.post("/api/bookings", json=far, headers=customer.headers)
    if allowed:
        assert answer.status_code == 201, answer.text
        return
    kind, begins, ends = _conflict(answer)
    assert (kind, begins, ends) == ("booking", stockholm(DAY, 8), stockholm(DAY, 9))
    assert answer.json()["detail"].startswith(
        "the provider cannot arrive in time: coming from a booking that ends at"
    )
    assert answer.json()["extra"]["drive_minutes"] == 76  # 75 and a few seconds, rounded up
    assert answer.json()["extra"]["travel"] == "great_circle"  # no road network there


async def test_a_route_leaves_the_provider_time_to_drive_to_and_from_a_booking(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    """Two visits at the provider's and a booking 75 minutes' drive away at 10:30: the
    visits go where the drives to and from the booking leave room for them."""
    at_far = {"latitude": FAR_LATITUDE, "longitude": HOME.longitude}
    far = provider.booking(stockholm(DAY, 10, 30), **at_far)
    made = await client.post("/api/bookings", json=far, headers=customer.headers)
    assert made.status_code == 201, made.text
    orders = [await _order_at(client, customer, HOME.latitude) for _ in range(2)]
    route = await planned(client, provider, route_body(provider, orders, optimize=False))
    busy = Busy(stockholm(DAY, 10, 30), stockholm(DAY, 11, 30), Point(**at_far), "booking")
    check_day(route, DayRulesSeen(DAY, commitments=[busy]), {o["id"]: o for o in orders})
