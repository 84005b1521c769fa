"""The files an export writes, a chunk of rows at a time: CSV, JSON, iCalendar, GPX.

Each row is the API's own view of it (what `GET /api/bookings`, `/api/route-orders/mine`
and `/api/routes` answer), with the provider's name and time zone beside it for the
calendar. Nothing here reads a database or a disk.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

import gpxpy.gpx
import icalendar
import msgspec

from app.bookings.schemas import BookingDetails
from app.route_orders.schemas import RouteOrderDetails
from app.routes.schemas import RouteDetails, StopDetails, route_path
from db.models import Booking, BookingStatus, Route, RouteOrder
from geo.distance import Point
from geo.routes import Streets, drawn_line


class ExportRow(NamedTuple):
    item: Booking | RouteOrder | Route
    business_name: str | None
    timezone: str | None
    streets: Streets = ()
    """A route's legs along the streets, for a format that draws its line (DRAWN)."""


FORMATS_OF_KIND = {
    "bookings": ("csv", "json", "ics"),
    "route_orders": ("csv", "json"),
    "routes": ("csv", "json", "ics", "gpx"),
}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ics": "text/calendar; charset=utf-8",
    "gpx": "application/gpx+xml",
}

DRAWN = frozenset({"gpx"})
"""The formats that draw a route's line: its rows need their streets."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (`=HYPERLINK(…)`, `@SUM(…)`,
    `+1+1`, `-2+3`) is kept as text with a leading apostrophe, as OWASP advises; numbers
    are written as numbers, whatever their sign."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def view(row: ExportRow) -> msgspec.Struct:
    """The row as the API lists it."""
    if isinstance(row.item, Booking):
        return BookingDetails.of(row.item)
    if isinstance(row.item, RouteOrder):
        return RouteOrderDetails.of(row.item)
    return RouteDetails.of(row.item)


class Writer(Protocol):
    def head(self) -> str: ...
    def rows(self, rows: Sequence[ExportRow]) -> str: ...
    def tail(self) -> str: ...


_ROUTE_COLUMNS = ("route_id", "date", "route_status", *StopDetails.__struct_fields__)


def _csv_records(row: ExportRow) -> Iterable[dict[str, Any]]:
    shown = view(row)
    if not isinstance(shown, RouteDetails):
        yield msgspec.to_builtins(shown)
        return
    for stop in shown.stops:
        route = {"route_id": shown.id, "date": shown.date, "route_status": shown.status}
        yield msgspec.to_builtins(route | msgspec.structs.asdict(stop))


@dataclass
class CsvWriter:
    """One line a booking or route order, one a stop of a route; UTF-8, with a byte order
    mark first if asked (Excel then reads it as UTF-8)."""

    columns: Sequence[str]
    bom: bool = False

    def _lines(self, records: Iterable[Sequence[object]]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows(records)
        return out.getvalue()

    def head(self) -> str:
        return ("\ufeff" if self.bom else "") + self._lines([self.columns])

    def rows(self, rows: Sequence[ExportRow]) -> str:
        records = (record for row in rows for record in _csv_records(row))
        return self._lines(
            [spreadsheet_safe(record.get(column)) for column in self.columns] for record in records
        )

    def tail(self) -> str:
        return ""


@dataclass
class JsonWriter:
    """A JSON array of the API's objects, written as they come."""

    written: int = 0

    def head(self) -> str:
        return "["

    def rows(self, rows: Sequence[ExportRow]) -> str:
        parts = []
        for row in rows:
            parts.append(
                ("\n" if self.written == 0 else ",\n") + msgspec.json.encode(view(row)).decode()
            )
            self.written += 1
        return "".join(parts)

    def tail(self) -> str:
        return "\n]\n"


PRODUCT_ID = "-//equinet//equinet-geo//EN"
_BOOKING_STATUS = {
    BookingStatus.pending: "TENTATIVE",
    BookingStatus.confirmed: "CONFIRMED",
    BookingStatus.completed: "CONFIRMED",
    BookingStatus.cancelled: "CANCELLED",
}


def _event(
    uid: str, start: datetime, end: datetime, zone: ZoneInfo, summary: str, place: Point
) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    event.add("summary", summary)
    event.add("geo", (place.latitude, place.longitude))
    return event


def calendar_events(row: ExportRow) -> list[icalendar.Event]:
    """A booking as one event, a route as one a visit, on the provider's clock."""
    zone = ZoneInfo(row.timezone or "UTC")
    business = row.business_name or ""
    item = row.item
    if isinstance(item, Booking):
        event = _event(
            f"booking-{item.id}@equinet",
            item.start,
            item.end,
            zone,
            f"{item.horse_name} - {business}",
            Point(item.latitude, item.longitude),
        )
        event.add("status", _BOOKING_STATUS[item.status])
        if item.notes:
            event.add("description", item.notes)
        return [event]
    if isinstance(item, Route):
        return [
            _event(
                f"route-{item.id}-order-{stop.route_order_id}@equinet",
                stop.eta,
                stop.eta + timedelta(minutes=stop.service_minutes),
                zone,
                f"{business}: {stop.order.category} #{stop.route_order_id}",
                Point(stop.order.latitude, stop.order.longitude),
            )
            for stop in item.stops
        ]
    return []


@dataclass
class IcsWriter:
    """RFC 5545: events with TZID times, then one VTIMEZONE for each zone they use,
    covering the years they span."""

    name: str = "equinet"
    zones: set[str] = field(default_factory=set)
    first: date | None = None
    last: date | None = None

    def head(self) -> str:
        return (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
            f"PRODID:{PRODUCT_ID}\r\nCALSCALE:GREGORIAN\r\nX-WR-CALNAME:{self.name}\r\n"
        )

    def rows(self, rows: Sequence[ExportRow]) -> str:
        parts = []
        for row in rows:
            for event in calendar_events(row):
                start = event.decoded("dtstart")
                self.zones.add(str(start.tzinfo))
                self.first = min(self.first or start.date(), start.date())
                self.last = max(self.last or start.date(), start.date())
                parts.append(event.to_ical().decode())
        return "".join(parts)

    def tail(self) -> str:
        first = date((self.first or date.today()).year, 1, 1)
        last = date((self.last or date.today()).year + 1, 1, 1)
        zones = [
            icalendar.Timezone.from_tzid(zone, first_date=first, last_date=last).to_ical().decode()
            for zone in sorted(self.zones - {"UTC"})
        ]
        return "".join(zones) + "END:VCALENDAR\r\n"


def route_gpx(route: RouteDetails, streets: Streets = ()) -> gpxpy.gpx.GPX:
    """A day route for a GPS device: its stops as waypoints (arrival times, in visiting
    order) and its line, start to end, as a track: along `streets` where it has them, as
    the map draws it."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "equinet-geo"
    add_route(gpx, route, "", streets)
    return gpx


def add_route(
    gpx: gpxpy.gpx.GPX, route: RouteDetails, business_name: str, streets: Streets
) -> None:
    for stop in route.stops:
        waypoint = gpxpy.gpx.GPXWaypoint(
            stop.latitude,
            stop.longitude,
            time=stop.eta,
            name=f"{stop.position}. #{stop.route_order_id} {stop.category}",
            description=f"{stop.service_minutes} min",
        )
        gpx.waypoints.append(waypoint)
    segment = gpxpy.gpx.GPXTrackSegment()
    for longitude, latitude in drawn_line(route_path(route), streets).coords:
        segment.points.append(gpxpy.gpx.GPXTrackPoint(latitude, longitude))
    track = gpxpy.gpx.GPXTrack(name=f"{business_name} {route.date} (route {route.id})".strip())
    track.segments.append(segment)
    gpx.tracks.append(track)


@dataclass
class GpxWriter:
    """GPX 1.1 puts every waypoint before every track, so the document is built whole
    and written at the end: a user's routes are a few hundred at most."""

    gpx: gpxpy.gpx.GPX = field(default_factory=gpxpy.gpx.GPX)

    def head(self) -> str:
        self.gpx.creator = "equinet-geo"
        return ""

    def rows(self, rows: Sequence[ExportRow]) -> str:
        for row in rows:
            shown = view(row)
            assert isinstance(shown, RouteDetails)
            add_route(self.gpx, shown, row.business_name or "", row.streets)
        return ""

    def tail(self) -> str:
        return self.gpx.to_xml(version="1.1")


def writer(kind: str, file_format: str, bom: bool = False) -> Writer:
    if file_format == "csv":
        columns = {
            "bookings": BookingDetails.__struct_fields__,
            "route_orders": RouteOrderDetails.__struct_fields__,
            "routes": _ROUTE_COLUMNS,
        }[kind]
        return CsvWriter(columns, bom)
    if file_format == "json":
        return JsonWriter()
    if file_format == "ics":
        return IcsWriter()
    return GpxWriter()
