"""Bookings through the HTTP app against the real database: no double booking, ever."""

import asyncio
import itertools
import random
import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from time import perf_counter
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import (
    BOOKABLE_SPOT,
    Client,
    OpenProvider,
    booked,
    days_ahead,
    every_page,
    next_dst_change,
    open_provider,
    request_booking,
    stockholm,
)
from tests.support.free_time import timeline
from tests.support.routes import ROUTES, orders_around, route_body
from tests.support.suite import BOOKING_HORIZON_DAYS

pytestmark = pytest.mark.pgbouncer

DAY = days_ahead(30)
RACERS = 50


async def book(client: Client, customer: SignedIn, provider: OpenProvider, start: datetime) -> int:
    """The status of booking the provider's service at `start`."""
    return (await request_booking(client, customer, provider, start)).status_code


async def active_bookings(engine: AsyncEngine, provider_id: int) -> int:
    async with engine.connect() as connection:
        count: int = await connection.scalar(
            text(
                "SELECT count(*) FROM bookings WHERE provider_id = :id"
                " AND status IN ('pending', 'confirmed')"
            ),
            {"id": provider_id},
        )
    return count


async def test_a_booking_lasts_the_service_duration_and_is_pending(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    start = stockholm(DAY, 10)
    response = await client.post(
        "/api/bookings",
        json=provider.booking(start, notes="Vänster fram"),
        headers=customer.headers,
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["provider_id"] == provider.id
    assert booking["service_id"] == provider.service_id
    assert booking["customer_id"] == customer.id
    assert booking["status"] == "pending"
    assert datetime.fromisoformat(booking["start"]) == start
    assert datetime.fromisoformat(booking["end"]) == start + timedelta(minutes=60)
    assert booking["start"].endswith("Z")  # stored and returned in UTC
    assert booking["notes"] == "Vänster fram"


async def test_fifty_concurrent_requests_for_one_slot_make_exactly_one_booking(
    client: Client, engine: AsyncEngine, provider: OpenProvider, server_url: str
) -> None:
    """Fifty customers, fifty HTTP connections, two server processes, one slot."""
    body = provider.booking(stockholm(DAY, 9))
    limits = httpx.Limits(max_connections=RACERS)
    async with httpx.AsyncClient(base_url=server_url, limits=limits, timeout=30) as http:
        customers = await asyncio.gather(*(sign_up(http, "customer") for _ in range(RACERS)))
        began = perf_counter()
        responses = await asyncio.gather(
            *(http.post("/api/bookings", json=body, headers=c.headers) for c in customers)
        )
        elapsed_s = perf_counter() - began
    statuses = Counter(response.status_code for response in responses)
    print(f"\n{RACERS} concurrent requests for one slot: {dict(statuses)} in {elapsed_s:.2f} s")
    assert statuses == {201: 1, 409: RACERS - 1}
    assert all("; choose another time" in r.json()["detail"] for r in responses if r.is_error)
    assert await active_bookings(engine, provider.id) == 1


@pytest.mark.parametrize(
    ("first", "second", "allowed"),
    [
        ((10, 0), (11, 0), True),  # starts as the first ends
        ((10, 0), (9, 0), True),  # ends as the first starts
        ((10, 0), (10, 30), False),  # overlaps its second half
        ((10, 0), (9, 30), False),  # overlaps its first half
        ((10, 0), (10, 0), False),  # the same slot
    ],
)
async def test_touching_visits_are_allowed_and_overlapping_ones_are_409(
    client: Client,
    provider: OpenProvider,
    customer: SignedIn,
    first: tuple[int, int],
    second: tuple[int, int],
    allowed: bool,
) -> None:
    assert await book(client, customer, provider, stockholm(DAY, *first)) == 201
    assert await book(client, customer, provider, stockholm(DAY, *second)) == (
        201 if allowed else 409
    )


async def test_a_shorter_visit_inside_a_longer_one_is_409(client: Client) -> None:
    long_visit = await open_provider(client, duration_minutes=120)
    customer = await sign_up(client, "customer")
    assert await book(client, customer, long_visit, stockholm(DAY, 10)) == 201
    short_visit = await client.post(
        f"/api/providers/{long_visit.id}/services",
        json={"name": "Kontroll", "category": "farrier", "duration_minutes": 15, "price": "200"},
        headers=long_visit.owner.headers,
    )
    inside = OpenProvider(long_visit.owner, long_visit.id, short_visit.json()["id"])
    start = stockholm(DAY, 10, 45)
    response = await request_booking(client, customer, inside, start)
    assert response.status_code == 409
    held = stockholm(DAY, 10), stockholm(DAY, 12)
    assert response.json()["detail"] == (
        f"the provider has a booking from {held[0].isoformat()} to {held[1].isoformat()};"
        " choose another time"
    )
    conflict = {"kind": "booking", "start": held[0].isoformat(), "end": held[1].isoformat()}
    assert response.json()["extra"] == {"conflict": conflict}


async def test_other_providers_are_not_blocked_by_a_booking(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    other = await open_provider(client)
    assert await book(client, customer, provider, stockholm(DAY, 10)) == 201
    assert await book(client, customer, other, stockholm(DAY, 10)) == 201


async def test_a_cancelled_booking_frees_its_slot(
    client: Client, provider: OpenProvider, customer: SignedIn, engine: AsyncEngine
) -> None:
    booking_id = await booked(client, customer, provider, stockholm(DAY, 10))
    assert await book(client, customer, provider, stockholm(DAY, 10)) == 409
    cancelled = await client.post(f"/api/bookings/{booking_id}/cancel", headers=customer.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert await book(client, customer, provider, stockholm(DAY, 10)) == 201
    assert await active_bookings(engine, provider.id) == 1


async def test_a_confirmed_booking_still_holds_its_slot(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_id = await booked(client, customer, provider, stockholm(DAY, 10))
    confirmed = await client.post(
        f"/api/bookings/{booking_id}/confirm", headers=provider.owner.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert await book(client, customer, provider, stockholm(DAY, 10, 30)) == 409


async def _started(engine: AsyncEngine, booking_id: int) -> None:
    """The booking's visit began an hour ago (a booking can't be made in the past)."""
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE bookings SET during = tstzrange(now() - interval '1 hour', now())"
                " WHERE id = :id"
            ),
            {"id": booking_id},
        )


async def test_the_provider_completes_a_booking_once_it_has_started(
    client: Client, engine: AsyncEngine, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_id = await booked(client, customer, provider, stockholm(DAY, 10))
    path = f"/api/bookings/{booking_id}/complete"
    owner = provider.owner.headers
    early = await client.post(path, headers=owner)
    assert (early.status_code, early.json()["detail"]) == (
        409,
        f"booking {booking_id} has not started yet",
    )
    await _started(engine, booking_id)
    assert (await client.post(path, headers=customer.headers)).status_code == 403
    stranger = await sign_up(client, "provider")
    assert (await client.post(path, headers=stranger.headers)).status_code == 404
    done = await client.post(path, headers=owner)
    assert (done.status_code, done.json()["status"]) == (200, "completed"), done.text
    again = await client.post(path, headers=owner)
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"booking {booking_id} is already completed",
    )
    assert await active_bookings(engine, provider.id) == 0


@pytest.mark.parametrize("forward", [True, False], ids=["spring", "autumn"])
async def test_hours_are_local_on_both_sides_of_a_dst_change(
    client: Client, provider: OpenProvider, customer: SignedIn, forward: bool
) -> None:
    change = next_dst_change(forward)
    for day in (change - timedelta(days=1), change, change + timedelta(days=1)):
        assert await book(client, customer, provider, stockholm(day, 8)) == 201, day
        assert await book(client, customer, provider, stockholm(day, 16)) == 201, day
        assert await book(client, customer, provider, stockholm(day, 7, 30)) == 422, day
        assert await book(client, customer, provider, stockholm(day, 16, 30)) == 422, day


async def test_the_same_utc_hour_is_inside_the_hours_on_one_side_of_a_change_only(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    change = next_dst_change(forward=True)
    before, after = change - timedelta(days=1), change + timedelta(days=1)
    # 07:00 UTC is 08:00 in winter (CET) but 09:00 in summer (CEST); 06:00 UTC is 07:00
    # and 08:00. A check done in UTC would get one of the two days wrong.
    assert await book(client, customer, provider, datetime.combine(before, time(6), UTC)) == 422
    assert await book(client, customer, provider, datetime.combine(after, time(6), UTC)) == 201


async def test_a_visit_must_end_by_closing_time(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    assert await book(client, customer, provider, stockholm(DAY, 16)) == 201
    response = await client.post(
        "/api/bookings", json=provider.booking(stockholm(DAY, 16, 1)), headers=customer.headers
    )
    assert response.status_code == 422
    assert "16:01-17:01" in response.json()["detail"]
    assert "08:00-17:00" in response.json()["detail"]


async def test_outside_split_hours_the_answer_lists_every_interval_of_the_day(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    split = [("08:00", "12:00"), ("13:00", "17:00")]
    weekly = [{"weekday": d, "opens": o, "closes": c} for d in range(7) for o, c in split]
    hours = await client.put(
        f"/api/providers/{provider.id}/availability",
        json={"timezone": "Europe/Stockholm", "weekly": weekly},
        headers=provider.owner.headers,
    )
    assert hours.status_code == 200, hours.text
    at_lunch = await request_booking(client, customer, provider, stockholm(DAY, 12))
    assert at_lunch.status_code == 422
    detail = at_lunch.json()["detail"]
    assert detail.endswith("hours that day: 08:00-12:00, 13:00-17:00 (Europe/Stockholm)")


async def test_a_visit_past_midnight_is_outside_the_hours(client: Client) -> None:
    late = await open_provider(client, duration_minutes=60, opens="20:00", closes="23:59")
    customer = await sign_up(client, "customer")
    assert await book(client, customer, late, stockholm(DAY, 22, 30)) == 201
    too_late = await request_booking(client, customer, late, stockholm(DAY, 23, 30))
    assert too_late.status_code == 422
    assert too_late.json()["detail"] == "the visit would run past midnight (Europe/Stockholm)"


async def test_a_closed_date_and_special_hours_replace_the_weekly_hours(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    closed, short = DAY + timedelta(days=1), DAY + timedelta(days=2)
    exceptions = f"/api/providers/{provider.id}/availability/exceptions"
    for body in (
        {"date": closed.isoformat(), "closed": True},
        {"date": short.isoformat(), "opens": "12:00", "closes": "14:00"},
    ):
        response = await client.post(exceptions, json=body, headers=provider.owner.headers)
        assert response.status_code == 201, response.text
    on_closed_date = await request_booking(client, customer, provider, stockholm(closed, 10))
    assert on_closed_date.status_code == 422
    assert on_closed_date.json()["detail"].endswith("hours that day: closed (Europe/Stockholm)")
    assert await book(client, customer, provider, stockholm(short, 10)) == 422
    assert await book(client, customer, provider, stockholm(short, 12)) == 201
    assert await book(client, customer, provider, stockholm(DAY, 10)) == 201  # weekly as ever
    removed = await client.delete(f"{exceptions}/{closed}", headers=provider.owner.headers)
    assert removed.status_code == 204
    assert await book(client, customer, provider, stockholm(closed, 10)) == 201


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"start": "2020-01-01T10:00:00+01:00"}, "start is in the past"),
        ({"service_id": 2**62}, "provider {provider_id} offers no service 4611686018427387904"),
    ],
)
async def test_bookings_that_break_a_rule_are_422(
    client: Client,
    provider: OpenProvider,
    customer: SignedIn,
    change: dict[str, object],
    detail: str,
) -> None:
    body = provider.booking(stockholm(DAY, 10)) | change
    response = await client.post("/api/bookings", json=body, headers=customer.headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == detail.format(provider_id=provider.id)


async def test_booking_beyond_the_horizon_is_422(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    beyond = days_ahead(BOOKING_HORIZON_DAYS + 2)
    response = await request_booking(client, customer, provider, stockholm(beyond, 10))
    assert response.status_code == 422
    assert response.json()["detail"] == f"bookings open at most {BOOKING_HORIZON_DAYS} days ahead"


async def test_another_providers_service_or_a_withdrawn_one_is_422(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    other = await open_provider(client)
    mixed = OpenProvider(provider.owner, provider.id, other.service_id)
    assert await book(client, customer, mixed, stockholm(DAY, 10)) == 422
    withdrawn = await client.delete(
        f"/api/providers/{provider.id}/services/{provider.service_id}",
        headers=provider.owner.headers,
    )
    assert withdrawn.status_code == 204
    assert await book(client, customer, provider, stockholm(DAY, 10)) == 422


@pytest.mark.parametrize(
    "change",
    [
        {"start": "2030-01-01T10:00:00"},  # no offset
        {"start": "2030-01-01T10:00:30+01:00"},  # not on a minute
        {"start": "tomorrow"},
        {"horse_name": "   "},
        {"horse_name": "x" * 101},
        {"notes": "x" * 2001},
        {"provider_id": 0},
        {"service_id": 2**63},
        {"colour": "bay"},
    ],
)
async def test_malformed_bookings_are_400(
    client: Client, provider: OpenProvider, customer: SignedIn, change: dict[str, object]
) -> None:
    body = provider.booking(stockholm(DAY, 10)) | change
    response = await client.post("/api/bookings", json=body, headers=customer.headers)
    assert response.status_code == 400, response.text


async def test_booking_needs_an_account(client: Client, provider: OpenProvider) -> None:
    response = await client.post("/api/bookings", json=provider.booking(stockholm(DAY, 10)))
    assert response.status_code == 401


async def test_a_failure_after_the_insert_leaves_neither_booking_nor_notification(
    client: Client, engine: AsyncEngine, provider: OpenProvider, customer: SignedIn
) -> None:
    """The database refuses the provider's notification, the statement after the booking's
    INSERT: the booking must go with it."""
    marker = f"Injected {uuid.uuid4().hex[:8]}"
    function = f"fail_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as connection:
        await connection.execute(
            text(
                f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF NEW.payload->>'horse_name' = '{marker}' THEN"
                " RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$"
            )
        )
        await connection.execute(
            text(
                f"CREATE TRIGGER {function} BEFORE INSERT ON notifications"
                f" FOR EACH ROW EXECUTE FUNCTION {function}()"
            )
        )
    try:
        response = await client.post(
            "/api/bookings",
            json=provider.booking(stockholm(DAY, 10), horse_name=marker),
            headers=customer.headers,
        )
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP TRIGGER {function} ON notifications"))
            await connection.execute(text(f"DROP FUNCTION {function}()"))
    assert response.status_code >= 500
    async with engine.connect() as connection:
        bookings = await connection.scalar(
            text("SELECT count(*) FROM bookings WHERE horse_name = :m"), {"m": marker}
        )
        notices = await connection.scalar(
            text("SELECT count(*) FROM notifications WHERE payload->>'horse_name' = :m"),
            {"m": marker},
        )
    assert (bookings, notices) == (0, 0)
    assert await book(client, customer, provider, stockholm(DAY, 10)) == 201  # slot still free


async def test_customer_and_provider_each_list_their_own_bookings_by_start(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    other_customer = await sign_up(client, "customer")
    hours = [14, 9, 11, 16, 10]
    for hour in hours:
        assert await book(client, customer, provider, stockholm(DAY, hour)) == 201
    assert await book(client, other_customer, provider, stockholm(DAY, 12)) == 201

    mine = await _all_pages(client, customer, {"limit": 2})
    assert [datetime.fromisoformat(b["start"]) for b in mine] == [
        stockholm(DAY, h) for h in sorted(hours)
    ]
    theirs = await _all_pages(client, provider.owner, {"limit": 4})
    assert len(theirs) == 6
    assert {b["customer_id"] for b in theirs} == {customer.id, other_customer.id}
    assert await _all_pages(client, provider.owner, {"as": "customer"}) == []


async def test_the_list_filters_by_status_and_start(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    for hour in (9, 10, 11):
        assert await book(client, customer, provider, stockholm(DAY, hour)) == 201
    first = (await _all_pages(client, customer, {}))[0]
    await client.post(f"/api/bookings/{first['id']}/cancel", headers=customer.headers)
    pending = await _all_pages(client, customer, {"status": "pending"})
    assert [b["id"] for b in pending] == [
        b["id"] for b in (await _all_pages(client, customer, {}))[1:]
    ]
    later = await _all_pages(client, customer, {"starts_from": stockholm(DAY, 10).isoformat()})
    assert len(later) == 2


async def test_bookings_at_one_start_come_in_id_order_across_pages(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    other = await open_provider(client)
    ids = [await booked(client, customer, each, stockholm(DAY, 10)) for each in (provider, other)]
    listed = await _all_pages(client, customer, {"limit": 1})
    assert [b["id"] for b in listed] == sorted(ids)


async def test_a_change_of_status_touches_that_booking_only_and_stamps_it(
    client: Client, engine: AsyncEngine, provider: OpenProvider, customer: SignedIn
) -> None:
    confirmed, cancelled, untouched = [
        await booked(client, customer, provider, stockholm(DAY, hour)) for hour in (9, 11, 13)
    ]
    async with engine.connect() as connection:
        booked_by = await connection.scalar(text("SELECT clock_timestamp()"))
    owner = provider.owner.headers
    assert (await client.post(f"/api/bookings/{confirmed}/confirm", headers=owner)).is_success
    assert (await client.post(f"/api/bookings/{cancelled}/cancel", headers=owner)).is_success
    statuses = {b["id"]: b["status"] for b in await _all_pages(client, customer, {})}
    assert statuses == {confirmed: "confirmed", cancelled: "cancelled", untouched: "pending"}
    async with engine.connect() as connection:
        changed = await connection.scalars(
            text("SELECT id FROM bookings WHERE id = ANY(:ids) AND updated_at > :booked_by"),
            {"ids": [confirmed, cancelled, untouched], "booked_by": booked_by},
        )
        assert set(changed) == {confirmed, cancelled}


async def _all_pages(
    client: Client, user: SignedIn, params: dict[str, str | int]
) -> list[dict[str, Any]]:
    return await every_page(client, user, "/api/bookings", params)


async def test_someone_elses_cursor_is_400(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    for hour in (9, 10):
        assert await book(client, customer, provider, stockholm(DAY, hour)) == 201
    page = await client.get("/api/bookings", params={"limit": 1}, headers=customer.headers)
    stranger = await sign_up(client, "customer")
    response = await client.get(
        "/api/bookings", params={"cursor": page.json()["next_cursor"]}, headers=stranger.headers
    )
    assert response.status_code == 400


async def test_other_peoples_bookings_are_404_and_stay_as_they_were(
    client: Client, engine: AsyncEngine, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_id = await booked(client, customer, provider, stockholm(DAY, 10))
    stranger = await sign_up(client, "customer")
    other_provider = await open_provider(client)
    for user, action in [
        (stranger, "cancel"),
        (stranger, "confirm"),
        (other_provider.owner, "cancel"),
        (other_provider.owner, "confirm"),
    ]:
        response = await client.post(f"/api/bookings/{booking_id}/{action}", headers=user.headers)
        assert response.status_code == 404, (action, response.text)
    missing = await client.post("/api/bookings/999999999/cancel", headers=customer.headers)
    assert missing.status_code == 404
    assert await active_bookings(engine, provider.id) == 1


async def test_only_the_provider_confirms_and_only_pending_bookings(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_id = await booked(client, customer, provider, stockholm(DAY, 10))
    path = f"/api/bookings/{booking_id}"
    by_customer = await client.post(f"{path}/confirm", headers=customer.headers)
    assert by_customer.status_code == 403
    assert by_customer.json()["detail"] == "only the provider confirms a booking"
    assert (await client.post(f"{path}/confirm", headers=provider.owner.headers)).status_code == 200
    twice = await client.post(f"{path}/confirm", headers=provider.owner.headers)
    assert twice.status_code == 409
    assert twice.json()["detail"] == (
        f"booking {booking_id} is confirmed: only pending bookings are confirmed"
    )
    assert (await client.post(f"{path}/cancel", headers=provider.owner.headers)).status_code == 200
    again = await client.post(f"{path}/cancel", headers=customer.headers)
    assert again.status_code == 409
    assert "already cancelled" in again.json()["detail"]


async def test_a_started_visit_cannot_be_cancelled(
    client: Client, engine: AsyncEngine, provider: OpenProvider, customer: SignedIn
) -> None:
    booking_id = await booked(client, customer, provider, stockholm(DAY, 10))
    async with engine.begin() as connection:  # as if the visit's time had come
        await connection.execute(
            text(
                "UPDATE bookings SET during = tstzrange(now() - interval '10 minutes',"
                " now() + interval '50 minutes') WHERE id = :id"
            ),
            {"id": booking_id},
        )
    response = await client.post(f"/api/bookings/{booking_id}/cancel", headers=customer.headers)
    assert response.status_code == 409
    assert "started" in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"cursor": "forged"},
        {"status": "lost"},
        {"as": "admin"},
        {"starts_from": "2030-01-01T10:00:00"},
        {"starts_from": "soon"},
        {"starts_from": "0001-01-01T13:00:00+14:00"},  # before year 1 in UTC
    ],
)
async def test_bad_list_parameters_are_400(
    client: Client, customer: SignedIn, params: dict[str, str | int]
) -> None:
    response = await client.get("/api/bookings", params=params, headers=customer.headers)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("start", ["0001-01-01T13:00:00+14:00", "9999-12-31T23:00:00-13:00"])
async def test_a_visit_starting_beyond_the_calendar_is_400(
    client: Client, provider: OpenProvider, customer: SignedIn, start: str
) -> None:
    body = {**provider.booking(stockholm(DAY, 10)), "start": start}
    response = await client.post("/api/bookings", json=body, headers=customer.headers)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("booking_id", ["0", "-3", str(2**63)])
async def test_booking_ids_outside_the_bigint_range_are_400(
    client: Client, customer: SignedIn, booking_id: str
) -> None:
    response = await client.post(f"/api/bookings/{booking_id}/cancel", headers=customer.headers)
    assert response.status_code == 400, response.text


async def test_bookings_and_route_plans_racing_for_one_day_leave_a_consistent_timeline(
    client: Client, engine: AsyncEngine, server_url: str
) -> None:
    """Bookings at stables near and 80 km away, route plans and insertions into a planned
    route over the same morning hours, at once through two server processes: whatever
    wins, no two commitments overlap and the provider can drive from each to the next."""
    provider = await open_provider(client, duration_minutes=60)
    orderer = await sign_up(client, "customer")
    home = Point(BOOKABLE_SPOT["latitude"], BOOKABLE_SPOT["longitude"])
    far = Point(home.latitude + 80 / 111.195, home.longitude)
    day = DAY.isoformat()
    orders = await orders_around(client, orderer, 8, seed=31, earliest=day, latest=day)
    base = await client.post(
        ROUTES, json=route_body(provider, orders[:1], date=day), headers=provider.owner.headers
    )
    assert base.status_code == 201, base.text
    insert = f"{ROUTES}/{base.json()['id']}/stops"
    rng = random.Random(31)
    # Each plan one order or two, its visits from about 08:00; two orders inserted into the
    # planned route; four bookings in the same morning hours, twenty later in the day.
    plans = [route_body(provider, rng.sample(orders[1:6], rng.randint(1, 2))) for _ in range(6)]
    hours = [rng.choice([8, 9]) for _ in range(4)] + [rng.randint(10, 15) for _ in range(20)]
    visits = [
        provider.booking(
            stockholm(DAY, hour, rng.choice([0, 15, 30, 45])),
            latitude=place.latitude,
            longitude=place.longitude,
        )
        for hour, place in zip(hours, rng.choices([home, far], k=len(hours)), strict=True)
    ]
    limits = httpx.Limits(max_connections=len(plans) + len(visits))
    async with httpx.AsyncClient(base_url=server_url, limits=limits, timeout=30) as http:
        customers = await asyncio.gather(*(sign_up(http, "customer") for _ in visits))
        owner = provider.owner.headers
        requests = [
            *(http.post(ROUTES, json=plan, headers=owner) for plan in plans),
            *(
                http.post(insert, json={"route_order_id": order["id"]}, headers=owner)
                for order in orders[6:]
            ),
            *(
                http.post("/api/bookings", json=visit, headers=customer.headers)
                for visit, customer in zip(visits, customers, strict=True)
            ),
        ]
        responses = await asyncio.gather(*requests)
    statuses = Counter(response.status_code for response in responses)
    held = await timeline(engine, provider.id)
    won = Counter(kind for kind, *_ in held)
    print(f"\nbookings, plans and insertions for one day: {dict(statuses)}, holding {dict(won)}")
    assert set(statuses) <= {200, 201, 409, 422}, [
        r.text for r in responses if r.status_code >= 500
    ]
    for (_, _, ends, here), (_, starts, _, there) in itertools.pairwise(held):
        drive = timedelta(hours=haversine_m(here, there) / 1000 / 60)
        assert ends + drive <= starts + timedelta(seconds=1), held
    assert sum(1 for kind, *_ in held if kind == "booking") >= 1
