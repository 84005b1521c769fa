"""Response bodies of free time, with the examples the OpenAPI document shows."""

from datetime import datetime

import msgspec
from litestar.openapi.spec import Example

from geo.travel import TravelBy


class Slot(msgspec.Struct, frozen=True):
    start: datetime
    end: datetime


class SlotList(msgspec.Struct):
    items: list[Slot]
    """In time order, in the provider's time zone."""
    timezone: str
    travel: TravelBy
    """What measured the drives between the visit's place and the provider's other
    commitments: the roads when the place is on the loaded network, else the great circle."""


SLOTS_EXAMPLE = Example(
    summary="Free starts of a 60-minute visit",
    value={
        "items": [
            {"start": "2027-03-29T08:00:00+02:00", "end": "2027-03-29T09:00:00+02:00"},
            {"start": "2027-03-29T08:15:00+02:00", "end": "2027-03-29T09:15:00+02:00"},
        ],
        "timezone": "Europe/Stockholm",
        "travel": "great_circle",
    },
)
