"""Parameter types shared by the domain controllers."""

from typing import Annotated, TypeAlias

import msgspec
from litestar.exceptions import ValidationException
from litestar.params import Parameter, PathParameter

from db.models import MAX_ROW_ID
from geo.distance import canonical_coordinate, canonical_longitude

# Text refuses control characters (PostgreSQL can't even store a NUL) and the bidirectional
# overrides and isolates that make text display other than it reads. A line refuses line
# breaks too; prose keeps tabs and line breaks. A name must show something.
CONTROLS = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
ONE_LINE = rf"^[^{CONTROLS}]*$"
NAME = rf"^(?=.*\S)[^{CONTROLS}]*$"
PROSE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"

RowId: TypeAlias = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
"""A row id in a path: anything outside the bigint range is a bad parameter, not a 500."""

RowIdField: TypeAlias = Annotated[int, msgspec.Meta(ge=1, le=MAX_ROW_ID)]
"""A row id in a request body."""

LatitudeField: TypeAlias = Annotated[float, msgspec.Meta(ge=-90, le=90)]
LongitudeField: TypeAlias = Annotated[float, msgspec.Meta(ge=-180, le=180)]
"""Coordinates in a request body (query strings use `Latitude`/`Longitude`)."""

Latitude: TypeAlias = Annotated[float, Parameter(ge=-90, le=90, description="WGS 84 latitude")]
Longitude: TypeAlias = Annotated[float, Parameter(ge=-180, le=180, description="WGS 84 longitude")]
Cursor: TypeAlias = Annotated[
    str | None, Parameter(max_length=200, description="next_cursor of the previous page")
]


def bad_query(key: str, detail: str, message: str | None = None) -> ValidationException:
    """A 400 for query parameter `key`, in the shape of Litestar's own: `detail` says
    what is wrong, the entry under `extra` names the parameter (`message`: detail's)."""
    entry = {"key": key, "source": "query", "message": message or detail}
    return ValidationException(detail, extra=[entry])


def canonical_coordinates(body: msgspec.Struct) -> None:
    """For a body's `__post_init__`: both coordinates, or neither (None or unset), each in
    its one spelling (geo.distance)."""
    latitude, longitude = body.latitude, body.longitude  # type: ignore[attr-defined]
    given = [isinstance(value, float | int) for value in (latitude, longitude)]
    if given[0] != given[1]:
        raise ValueError("send latitude and longitude together")
    if given[0]:
        msgspec.structs.force_setattr(body, "latitude", canonical_coordinate(latitude))
        msgspec.structs.force_setattr(body, "longitude", canonical_longitude(longitude))
