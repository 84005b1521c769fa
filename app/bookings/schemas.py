"""Request and response bodies of the booking endpoints."""

from datetime import UTC, datetime
from typing import Annotated

import msgspec

from app.edge.parameters import (
    NAME,
    PROSE,
    LatitudeField,
    LongitudeField,
    RowIdField,
    canonical_coordinates,
)
from app.views import View
from db.bookings import BookingRequest, Side
from db.models import BookingStatus
from geo.distance import Point


class BookingDraft(msgspec.Struct, forbid_unknown_fields=True):
    """A visit to book. Its length is the service's duration. It happens at the stable's
    latitude and longitude, or at an address (located), or else at the provider's own
    location."""

    provider_id: RowIdField
    service_id: RowIdField
    start: Annotated[
        datetime, msgspec.Meta(tz=True, description="ISO 8601 with offset, on a whole minute")
    ]
    horse_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME)]
    notes: Annotated[str, msgspec.Meta(max_length=2000, pattern=PROSE)] = ""
    latitude: LatitudeField | None = None
    longitude: LongitudeField | None = None
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=NAME)] | None = None

    def __post_init__(self) -> None:
        canonical_coordinates(self)
        if self.latitude is not None and self.address is not None:
            raise ValueError("send latitude and longitude, or an address, not both")
        utc = self.start.astimezone(UTC)
        if utc.second or utc.microsecond:
            raise ValueError("start must be on a whole minute")

    def as_request(self, place: Point | None) -> BookingRequest:
        """The request, at `place` (the draft's coordinates or its located address)."""
        return BookingRequest(
            self.provider_id,
            self.service_id,
            self.start,
            self.horse_name.strip(),
            self.notes,
            place,
        )

    @property
    def point(self) -> Point | None:
        if self.latitude is None or self.longitude is None:
            return None
        return Point(self.latitude, self.longitude)


class BookingDetails(View):
    id: int
    provider_id: int
    service_id: int
    customer_id: int
    start: datetime
    end: datetime
    status: BookingStatus
    horse_name: str
    notes: str
    latitude: float
    longitude: float


class BookingList(msgspec.Struct):
    items: list[BookingDetails]
    next_cursor: str | None


class BookingsFilters(msgspec.Struct, frozen=True, tag=True):
    """Whose bookings, from which side, which ones: a cursor of the list belongs to these."""

    user_id: int
    side: Side
    status: BookingStatus | None
    starts_from: datetime | None
