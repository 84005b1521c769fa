"""Response body of the geocode endpoint."""

import msgspec

from geo.geocoding.base import Source


class GeocodeAnswer(msgspec.Struct):
    latitude: float
    longitude: float
    display_name: str
    source: Source
