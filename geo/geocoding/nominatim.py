"""Nominatim's search API (https://nominatim.org/release-docs/latest/api/Search/)."""

from typing import Annotated

import httpx
import msgspec

from geo.geocoding.base import GeocoderUnavailableError, Place, UpstreamThrottledError

# How long to hold back after a 429 that does not say (Nominatim's blocks last minutes).
_DEFAULT_BACK_OFF_S = 60.0


# An answer of one hit is about a kilobyte: anything far larger is not one to keep.
MAX_BODY_BYTES = 64 * 1024
MAX_NAME_LENGTH = 1000


class _Hit(msgspec.Struct):
    lat: str
    lon: str
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)]

    def place(self) -> Place:
        latitude, longitude = float(self.lat), float(self.lon)
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # NaN fails too
            raise ValueError(f"coordinates out of range: {self.lat}, {self.lon}")
        return Place(latitude, longitude, self.display_name)


_hits = msgspec.json.Decoder(list[_Hit])


class NominatimGeocoder:
    """One `/search` request per call; pacing, caching and de-duplication are the caller's.

    Nominatim's usage policy asks for an identifying User-Agent with a contact, and
    blocks clients that send more than one request per second.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        user_agent: str,
        countrycodes: str = "",
        accept_language: str = "",
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/search"
        self._headers = {"User-Agent": user_agent}
        self._params = {"format": "jsonv2", "limit": "1", "addressdetails": "0"}
        if countrycodes:
            self._params["countrycodes"] = countrycodes
        if accept_language:
            self._params["accept-language"] = accept_language

    async def geocode(self, query: str) -> Place | None:
        """The first hit, checked: an answer that is not a place on Earth with a name of
        reasonable length is a failure of the upstream, never an answer to keep."""
        body = await self._search(query)
        try:
            hits = _hits.decode(body)
            return hits[0].place() if hits else None
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as error:
            raise GeocoderUnavailableError(
                f"nominatim sent an unusable answer ({type(error).__name__})"
            ) from error

    async def _search(self, query: str) -> bytes:
        params = {**self._params, "q": query}
        try:
            async with self._client.stream(
                "GET", self._url, params=params, headers=self._headers
            ) as response:
                if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
                    raise UpstreamThrottledError(_retry_after_s(response))
                if response.status_code != httpx.codes.OK:
                    raise GeocoderUnavailableError(f"nominatim answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise GeocoderUnavailableError(
                            f"nominatim sent more than {MAX_BODY_BYTES} bytes"
                        )
                return bytes(body)
        except httpx.HTTPError as error:
            raise GeocoderUnavailableError(f"nominatim: {type(error).__name__}") from error


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return max(float(response.headers["Retry-After"]), 1.0)
    except (KeyError, ValueError):
        return _DEFAULT_BACK_OFF_S
