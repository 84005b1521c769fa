"""Map viewports: `minLng,minLat,maxLng,maxLat` as map clients send them (RFC 7946 order)."""

import math
from dataclasses import dataclass

from geo.bbox import LatLngBox
from geo.distance import Point, haversine_m
from geo.numbers import parse_number


class InvalidViewportError(ValueError):
    """The bbox parameter is malformed or out of range."""


@dataclass(frozen=True, slots=True)
class Viewport:
    """A latitude/longitude rectangle; `min_lng > max_lng` means it crosses the antimeridian."""

    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.min_lng > self.max_lng

    @property
    def lng_span(self) -> float:
        span = self.max_lng - self.min_lng
        return span + 360 if self.crosses_antimeridian else span

    @property
    def lat_span(self) -> float:
        return self.max_lat - self.min_lat

    @property
    def center(self) -> Point:
        lng = self.min_lng + self.lng_span / 2
        return Point((self.min_lat + self.max_lat) / 2, lng - 360 if lng > 180 else lng)

    def boxes(self) -> list[LatLngBox]:
        """The rectangle as boxes that don't cross the antimeridian (one, or two)."""
        if not self.crosses_antimeridian:
            return [LatLngBox(self.min_lat, self.min_lng, self.max_lat, self.max_lng)]
        return [
            LatLngBox(self.min_lat, self.min_lng, self.max_lat, 180.0),
            LatLngBox(self.min_lat, -180.0, self.max_lat, self.max_lng),
        ]

    def enclosing_radius_m(self) -> float:
        """Radius of a circle around `center` that holds the whole rectangle.

        Along a parallel the distance from the center grows with the longitude difference,
        and along a meridian it grows away from the meridian's closest point, so the
        farthest point of the rectangle is one of its corners.
        """
        corners = [
            Point(lat, lng)
            for lat in (self.min_lat, self.max_lat)
            for lng in (self.min_lng, self.max_lng)
        ]
        return max(haversine_m(self.center, corner) for corner in corners) * (1 + 1e-9) + 1.0


def parse_viewport(text: str) -> Viewport:
    parts = text.split(",")
    if len(parts) != 4:
        raise InvalidViewportError("bbox must be four numbers: minLng,minLat,maxLng,maxLat")
    try:
        min_lng, min_lat, max_lng, max_lat = (parse_number(part) for part in parts)
    except ValueError:
        raise InvalidViewportError("bbox values must be numbers, written as in JSON") from None
    if not all(math.isfinite(v) for v in (min_lng, min_lat, max_lng, max_lat)):
        raise InvalidViewportError("bbox values must be finite numbers")
    if not (-180 <= min_lng <= 180 and -180 <= max_lng <= 180):
        raise InvalidViewportError("bbox longitudes must be within [-180, 180]")
    if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise InvalidViewportError("bbox latitudes must be within [-90, 90]")
    if min_lat >= max_lat:
        raise InvalidViewportError("bbox minLat must be less than maxLat")
    if min_lng == max_lng:
        raise InvalidViewportError("bbox minLng and maxLng must differ")
    return Viewport(min_lng, min_lat, max_lng, max_lat)


def check_span(viewport: Viewport, max_span_deg: float) -> Viewport:
    if viewport.lng_span > max_span_deg or viewport.lat_span > max_span_deg:
        raise InvalidViewportError(
            f"bbox spans more than {max_span_deg:g} degrees; zoom in or use /clusters"
        )
    return viewport
