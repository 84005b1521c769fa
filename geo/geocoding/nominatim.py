"""Nominatim's search API (https://nominatim.org/release-docs/latest/api/Search/)."""

import httpx
import msgspec

from geo.geocoding.base import GeocoderUnavailableError, Place, UpstreamThrottledError

# How long to hold back after a 429 that does not say (Nominatim's blocks last minutes).
_DEFAULT_BACK_OFF_S = 60.0


class _Hit(msgspec.Struct):
    lat: str
    lon: str
    display_name: str


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
        try:
            response = await self._client.get(
                self._url, params={**self._params, "q": query}, headers=self._headers
            )
        except httpx.HTTPError as error:
            raise GeocoderUnavailableError(f"nominatim: {type(error).__name__}") from error
        if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
            raise UpstreamThrottledError(_retry_after_s(response))
        if response.status_code != httpx.codes.OK:
            raise GeocoderUnavailableError(f"nominatim answered {response.status_code}")
        try:
            hits = _hits.decode(response.content)
            if not hits:
                return None
            return Place(float(hits[0].lat), float(hits[0].lon), hits[0].display_name)
        except (msgspec.DecodeError, ValueError) as error:
            raise GeocoderUnavailableError("nominatim sent an unexpected body") from error


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return max(float(response.headers["Retry-After"]), 1.0)
    except (KeyError, ValueError):
        return _DEFAULT_BACK_OFF_S
