"""Address to point, through the cache, the paced upstream and the offline gazetteer."""

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter

from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.limits import limited
from app.edge.parameters import ONE_LINE
from app.errors import error_responses
from app.geocoding.schemas import GeocodeAnswer
from app.settings import Settings
from geo.geocoding.base import normalize_query
from geo.geocoding.chain import GeocoderChain


class GeocodeController(Controller):
    path = "/api/geocode"
    tags = ["geocoding"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS

    @get(
        "/",
        opt=limited("geocode"),
        operation_id="geocodeAddress",
        responses=error_responses(400, 404, 429, 503),
    )
    async def geocode(
        self,
        geocoder: NamedDependency[GeocoderChain],
        settings: NamedDependency[Settings],
        q: Annotated[
            str,
            Parameter(
                description="an address or place, as typed", max_length=1000, pattern=ONE_LINE
            ),
        ],
    ) -> GeocodeAnswer:
        """The best match for `q` (404 when nothing matches; 503 when the upstream is busy)."""
        if not normalize_query(q):
            raise ValidationException("q is empty")
        if len(q) > settings.geocoder_query_max_length:
            raise ValidationException(
                f"q is longer than {settings.geocoder_query_max_length} characters"
            )
        answer = await geocoder.geocode(q)
        if answer is None:
            raise NotFoundException("no place matches q")
        return GeocodeAnswer.of(answer)
