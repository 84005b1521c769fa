"""Response bodies of free time, with the examples the OpenAPI document shows."""

from datetime import datetime

import msgspec
from litestar.openapi.spec import Example


class Slot(msgspec.Struct, frozen=True):
    start: datetime
    end: datetime


class SlotList(msgspec.Struct):
    items: list[Slot]
    """In time order, in the provider's time zone."""
    timezone: str


SLOTS_EXAMPLE = Example(
    summary="Free starts of a 60-minute visit",
    value={
        "items": [
            {"start": "2027-03-29T08:00:00+02:00", "end": "2027-03-29T09:00:00+02:00"},
            {"start": "2027-03-29T08:15:00+02:00", "end": "2027-03-29T09:15:00+02:00"},
        ],
        "timezone": "Europe/Stockholm",
    },
)
