"""Response body of the geocode endpoint."""

import enum

import msgspec

from geo.geocoding.base import Geocoded, Source


class PublicSource(enum.StrEnum):
    """Where an answer came from, as the public may know it. A cached answer is told as
    the upstream's: "cache" would tell anyone that somebody looked the address up lately."""

    upstream = "upstream"
    gazetteer = "gazetteer"


class GeocodeAnswer(msgspec.Struct):
    latitude: float
    longitude: float
    display_name: str
    source: PublicSource

    @classmethod
    def of(cls, answer: Geocoded) -> "GeocodeAnswer":
        place, source = answer.place, answer.source
        told = PublicSource.upstream if source is Source.cache else PublicSource(source)
        return cls(place.latitude, place.longitude, place.display_name, told)
