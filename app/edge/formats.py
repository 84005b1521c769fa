"""Response formats a client may ask for with `format=`: JSON, or GeoJSON for maps."""

import enum
from typing import Annotated

from litestar.params import QueryParameter

JSON = "application/json"
GEOJSON = "application/geo+json"
GEOJSON_TOO = "With format=geojson: an RFC 7946 FeatureCollection (application/geo+json)."


class ResponseFormat(enum.StrEnum):
    json = "json"
    geojson = "geojson"


Format = Annotated[ResponseFormat, QueryParameter(name="format")]
