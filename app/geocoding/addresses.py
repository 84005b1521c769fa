"""Addresses sent in request bodies, located through the geocoder chain."""

from app.errors import UnprocessableException
from geo.geocoding.base import address_query
from geo.geocoding.chain import GeocoderChain


async def locate(
    geocoder: GeocoderChain,
    address: str | None,
    postal_code: str | None = None,
    city: str | None = None,
) -> dict[str, float]:
    """`latitude` and `longitude` of the address; 422 if nothing locates it."""
    query = address_query(address, postal_code, city)
    answer = await geocoder.geocode(query) if query else None
    if answer is None:
        raise UnprocessableException(
            "the address could not be located; send latitude and longitude instead"
        )
    return {"latitude": answer.place.latitude, "longitude": answer.place.longitude}
