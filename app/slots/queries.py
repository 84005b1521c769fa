"""The query parameters of free time (one provider's slots, and free-near-me): a window of
local dates, bounded by this deployment's settings, as values."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import msgspec
from litestar.params import Parameter, QueryParameter

from app.edge.parameters import RowId, bad_query
from app.settings import Routing, Settings
from db.models import MAX_ROW_ID
from db.slots import SlotRules, Window
from geo.distance import canonical_coordinate, canonical_longitude

DEFAULT_DAYS = 7
# The date is already `from` somewhere on Earth at UTC+14, and still is at UTC-12.
_EARLIEST_OFFSET = timedelta(hours=12)

From = Annotated[
    date | None,
    QueryParameter(name="from", description="first local date (default: today, UTC)"),
]
To = Annotated[
    date | None,
    QueryParameter(description=f"last local date, included (default: {DEFAULT_DAYS} days)"),
]
OptionalLatitude = Annotated[
    float | None, Parameter(ge=-90, le=90, description="the stable's latitude (with lng)")
]
OptionalLongitude = Annotated[
    float | None, Parameter(ge=-180, le=180, description="the stable's longitude (with lat)")
]

Windows = Callable[[date | None, date | None], Window]
"""A window of local dates from `from` and `to`, checked against this deployment's bounds."""


def slot_rules(settings: Settings) -> SlotRules:
    """This deployment's terms for offering a slot."""
    return SlotRules(
        settings.slot_step_minutes,
        timedelta(minutes=settings.booking_min_notice_minutes),
        timedelta(days=settings.booking_horizon_days),
        settings.routes.speed_kmh,
        on_roads=settings.routing is Routing.roads,
    )


def windows(settings: Settings) -> Windows:
    max_days, horizon_days = settings.free_time_max_days, settings.booking_horizon_days

    def window(first: date | None, last: date | None) -> Window:
        now = datetime.now(UTC)
        first = first or now.date()
        if first < (now - _EARLIEST_OFFSET).date():
            raise bad_query("from", f"from ({first}) is in the past everywhere")
        if first > (now + timedelta(days=horizon_days)).date():
            raise bad_query(
                "from", f"from ({first}) is past the booking horizon ({horizon_days} days)"
            )
        last = last or first + timedelta(days=min(DEFAULT_DAYS, max_days) - 1)
        if last < first:
            raise bad_query("to", f"to ({last}) is before from ({first})")
        if (last - first).days + 1 > max_days:
            raise bad_query("to", f"at most {max_days} days a request: {first} to {last} is more")
        return Window(first, last)

    return window


class SlotsRequest(msgspec.Struct, frozen=True, tag=True):
    provider_id: int
    service_id: int
    window: Window
    latitude: float | None
    longitude: float | None


def slots_parser(window_of: Windows) -> Callable[..., SlotsRequest]:
    def slots_request(
        provider_id: RowId,
        service_id: Annotated[
            int, QueryParameter(ge=1, le=MAX_ROW_ID, description="the service to book")
        ],
        from_: From = None,
        to: To = None,
        lat: OptionalLatitude = None,
        lng: OptionalLongitude = None,
    ) -> SlotsRequest:
        if (lat is None) != (lng is None):
            raise bad_query("lat" if lat is None else "lng", "send lat and lng together")
        if lat is not None and lng is not None:
            lat, lng = canonical_coordinate(lat), canonical_longitude(lng)
        return SlotsRequest(provider_id, service_id, window_of(from_, to), lat, lng)

    return slots_request
