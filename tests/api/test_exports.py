"""Exports as jobs: asked for, written by the worker from one snapshot, polled, downloaded
by their owner only, expired; CSV safe in spreadsheets, iCalendar and GPX that their
libraries read back with the right times and points; the calendar feed."""

import csv
import io
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import gpxpy
import icalendar
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.exports.files import spreadsheet_safe
from app.settings import Settings
from tests.support.accounts import SignedIn, sign_up
from tests.support.bookings import (
    Client,
    OpenProvider,
    booked,
    days_ahead,
    every_page,
    open_provider,
    stockholm,
)
from tests.support.exports import exported
from tests.support.routes import orders_around, planned, route_body
from tests.support.waiting import until

pytestmark = pytest.mark.usefixtures("job_worker_running")

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1:A2)"]


async def _customer_with_bookings(
    client: Client, provider: OpenProvider, count: int
) -> tuple[SignedIn, list[dict[str, Any]]]:
    """A customer with `count` bookings of the provider, and the bookings as it lists them."""
    customer = await sign_up(client, "customer")
    day = days_ahead(40)
    for n in range(count):
        await booked(client, customer, provider, stockholm(day + timedelta(days=n), 9))
    return customer, await every_page(client, customer, "/api/bookings", {"side": "customer"})


async def test_a_bookings_export_holds_what_the_api_lists_in_json_and_csv(
    client: Client, provider: OpenProvider
) -> None:
    customer, listed = await _customer_with_bookings(client, provider, 3)
    state, body = await exported(client, customer, kind="bookings", format="json")
    assert state["rows"] == 3
    assert json.loads(body) == listed

    _, body = await exported(client, customer, kind="bookings", format="csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [int(row["id"]) for row in rows] == [item["id"] for item in listed]
    assert [row["horse_name"] for row in rows] == [item["horse_name"] for item in listed]
    assert [float(row["longitude"]) for row in rows] == [item["longitude"] for item in listed]

    since = (days_ahead(41)).isoformat()
    state, body = await exported(
        client, customer, kind="bookings", format="json", **{"from": since}
    )
    assert [item["id"] for item in json.loads(body)] == [item["id"] for item in listed[1:]]


async def test_csv_cells_that_a_spreadsheet_would_run_are_kept_as_text(
    client: Client, provider: OpenProvider
) -> None:
    customer = await sign_up(client, "customer")
    day = days_ahead(45)
    for n, formula in enumerate(FORMULAS):
        booking = provider.booking(stockholm(day, 8 + n), horse_name=formula, notes=formula)
        answer = await client.post("/api/bookings", json=booking, headers=customer.headers)
        assert answer.status_code == 201, answer.text
    _, body = await exported(client, customer, kind="bookings", format="csv", bom=True)
    assert body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [row["horse_name"] for row in rows] == ["'" + formula for formula in FORMULAS]
    assert [row["notes"] for row in rows] == ["'" + formula for formula in FORMULAS]
    assert all(not row[key].startswith(("=", "+", "-", "@")) for row in rows for key in row)


def test_numbers_keep_their_sign_and_plain_text_stays_as_it_is() -> None:
    assert spreadsheet_safe(-12.5) == -12.5
    assert spreadsheet_safe("Blixten") == "Blixten"
    assert spreadsheet_safe("") == ""
    assert spreadsheet_safe("-") == "'-"


async def test_bookings_as_icalendar_parse_back_on_the_providers_clock(
    client: Client, provider: OpenProvider
) -> None:
    customer, listed = await _customer_with_bookings(client, provider, 2)
    _, body = await exported(client, customer, kind="bookings", format="ics")
    calendar = icalendar.Calendar.from_ical(body)
    assert calendar["VERSION"] == "2.0"
    zones = [zone["TZID"] for zone in calendar.walk("VTIMEZONE")]
    assert zones == ["Europe/Stockholm"]
    events = calendar.walk("VEVENT")
    assert [str(event["UID"]) for event in events] == [
        f"booking-{item['id']}@equinet" for item in listed
    ]
    for event, item in zip(events, listed, strict=True):
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert start.tzinfo == ZoneInfo("Europe/Stockholm")
        assert start == datetime.fromisoformat(item["start"])
        assert end == datetime.fromisoformat(item["end"])
        assert event["STATUS"] == "TENTATIVE"


async def _provider_with_route(client: Client) -> tuple[OpenProvider, dict[str, Any]]:
    provider = await open_provider(client)
    customer = await sign_up(client, "customer")
    orders = await orders_around(client, customer, 3, seed=11)
    return provider, await planned(client, provider, route_body(provider, orders))


def _check_gpx(document: str, route: dict[str, Any]) -> None:
    gpx = gpxpy.parse(document)
    assert [(w.latitude, w.longitude) for w in gpx.waypoints] == [
        (stop["latitude"], stop["longitude"]) for stop in route["stops"]
    ]
    assert [w.time for w in gpx.waypoints] == [
        datetime.fromisoformat(stop["eta"]) for stop in route["stops"]
    ]
    (track,) = gpx.tracks
    points = [(p.latitude, p.longitude) for p in track.segments[0].points]
    start, end = route["start"], route["end"]
    assert points[0] == pytest.approx((start["latitude"], start["longitude"]))
    assert points[-1] == pytest.approx((end["latitude"], end["longitude"]))
    for stop in route["stops"]:
        assert (stop["latitude"], stop["longitude"]) in points


async def test_a_day_route_as_gpx_has_its_stops_as_waypoints_and_its_line_as_a_track(
    client: Client,
) -> None:
    provider, route = await _provider_with_route(client)
    answer = await client.get(f"/api/routes/{route['id']}/gpx", headers=provider.owner.headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/gpx+xml")
    _check_gpx(answer.text, route)
    other = await sign_up(client, "provider")
    elsewhere = await client.get(f"/api/routes/{route['id']}/gpx", headers=other.headers)
    assert elsewhere.status_code == 404

    state, body = await exported(client, provider.owner, kind="routes", format="gpx")
    assert state["rows"] == 1
    _check_gpx(body.decode(), route)
    _, body = await exported(client, provider.owner, kind="routes", format="ics")
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert [event.decoded("DTSTART") for event in events] == [
        datetime.fromisoformat(stop["eta"]) for stop in route["stops"]
    ]
    _, body = await exported(client, provider.owner, kind="routes", format="csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [int(row["route_order_id"]) for row in rows] == [
        stop["route_order_id"] for stop in route["stops"]
    ]


async def test_route_orders_export_as_the_customer_lists_them(client: Client) -> None:
    customer = await sign_up(client, "customer")
    await orders_around(client, customer, 2, seed=5)
    listed = await every_page(client, customer, "/api/route-orders/mine", {})
    _, body = await exported(client, customer, kind="route_orders", format="json")
    assert json.loads(body) == listed


async def test_an_export_is_its_owners_alone_and_gone_after_it_expires(
    client: Client, provider: OpenProvider, engine: AsyncEngine, settings: Settings
) -> None:
    customer, _ = await _customer_with_bookings(client, provider, 1)
    state, _ = await exported(client, customer, kind="bookings", format="csv")
    stranger = await sign_up(client, "customer")
    for path in (f"/api/exports/{state['id']}", state["download_url"]):
        assert (await client.get(path, headers=stranger.headers)).status_code == 404
    assert (await client.get(state["download_url"])).status_code == 401

    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE exports SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": state["id"]},
        )
    file = Path(settings.exports.dir) / f"{state['id']}.csv"
    assert file.exists()

    async def expired() -> bool:
        answer = await client.get(state["download_url"], headers=customer.headers)
        return answer.status_code == 410

    assert await until(expired)

    async def deleted() -> bool:  # the worker deletes the file once the expiry committed
        return not file.exists()

    assert await until(deleted)
    assert (await client.get(f"/api/exports/{state['id']}", headers=customer.headers)).json()[
        "status"
    ] == "expired"


async def test_a_user_has_three_exports_under_way_at_most(
    client: Client, engine: AsyncEngine
) -> None:
    customer = await sign_up(client, "customer")
    async with engine.begin() as connection:
        for _ in range(3):
            await connection.execute(
                text(
                    "INSERT INTO exports (id, user_id, kind, format, status)"
                    " VALUES (:id, :user, 'bookings', 'csv', 'running')"
                ),
                {"id": uuid.uuid4(), "user": customer.id},
            )
    answer = await client.post(
        "/api/exports", json={"kind": "bookings", "format": "csv"}, headers=customer.headers
    )
    assert answer.status_code == 409
    assert "3 exports are under way" in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "bookings", "format": "gpx"},
        {"kind": "route_orders", "format": "ics"},
        {"kind": "bookings", "format": "json", "bom": True},
        {"kind": "bookings", "format": "csv", "from": "2027-02-01", "to": "2027-01-01"},
        {"kind": "bookings", "format": "csv", "from": "2027-01-01", "to": "2030-01-01"},
        {"kind": "horses", "format": "csv"},
        {"kind": "bookings", "format": "xlsx"},
        {"kind": "bookings", "format": "csv", "extra": 1},
    ],
)
async def test_exports_that_cannot_be_made_are_400(client: Client, body: dict[str, Any]) -> None:
    customer = await sign_up(client, "customer")
    answer = await client.post("/api/exports", json=body, headers=customer.headers)
    assert answer.status_code == 400, answer.text


async def test_a_calendar_feed_serves_the_bookings_until_replaced_or_revoked(
    client: Client, provider: OpenProvider
) -> None:
    customer, _ = await _customer_with_bookings(client, provider, 2)
    made = await client.post("/api/me/calendar-feed", headers=customer.headers)
    assert made.status_code == 201
    url = made.json()["url"]
    feed = await client.get(url)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    assert len(icalendar.Calendar.from_ical(feed.content).walk("VEVENT")) == 2

    owner_feed = await client.post("/api/me/calendar-feed", headers=provider.owner.headers)
    events = icalendar.Calendar.from_ical((await client.get(owner_feed.json()["url"])).content)
    assert len(events.walk("VEVENT")) >= 2

    replaced = await client.post("/api/me/calendar-feed", headers=customer.headers)
    assert (await client.get(url)).status_code == 404
    assert (await client.get(replaced.json()["url"])).status_code == 200
    assert (
        await client.delete("/api/me/calendar-feed", headers=customer.headers)
    ).status_code == 204
    assert (await client.get(replaced.json()["url"])).status_code == 404
    assert (await client.get("/api/calendar/not-a-feed")).status_code == 404
