"""Request and response bodies of the booking endpoints."""

from datetime import UTC, datetime
from typing import Annotated

import msgspec

from app.edge.parameters import NAME, PROSE, RowIdField
from app.views import View
from db.bookings import BookingRequest, Side
from db.models import BookingStatus


class BookingDraft(msgspec.Struct, forbid_unknown_fields=True):
    """A visit to book. Its length is the service's duration."""

    provider_id: RowIdField
    service_id: RowIdField
    start: Annotated[
        datetime, msgspec.Meta(tz=True, description="ISO 8601 with offset, on a whole minute")
    ]
    horse_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME)]
    notes: Annotated[str, msgspec.Meta(max_length=2000, pattern=PROSE)] = ""

    def __post_init__(self) -> None:
        utc = self.start.astimezone(UTC)
        if utc.second or utc.microsecond:
            raise ValueError("start must be on a whole minute")

    def as_request(self) -> BookingRequest:
        return BookingRequest(
            self.provider_id, self.service_id, self.start, self.horse_name.strip(), self.notes
        )


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


class BookingList(msgspec.Struct):
    items: list[BookingDetails]
    next_cursor: str | None


class BookingsFilters(msgspec.Struct, frozen=True, tag=True):
    """Whose bookings, from which side, which ones: a cursor of the list belongs to these."""

    user_id: int
    side: Side
    status: BookingStatus | None
    starts_from: datetime | None
