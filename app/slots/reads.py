"""One provider's free slots, a cached public read (edge.cached_reads): its answers end
with any change of the provider, its profile's or its calendar's."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec

from app.edge.answers import Rendered
from app.edge.cached_reads import CachedRead
from app.edge.formats import JSON
from app.edge.public_reads import PublicServer
from app.errors import not_found
from app.slots.queries import SlotsRequest, Windows, slots_parser
from app.slots.schemas import SLOTS_EXAMPLE, Slot, SlotList
from db.slots import FreeSlots, NoSuchServiceError, SlotRules, SlotsQuery
from geo.bbox import LatLngBox
from geo.distance import Point


def _slot_list(free: FreeSlots) -> SlotList:
    # The end is reckoned before the change of zone: adding to a local time adds to the
    # wall clock, which a visit across a clock change does not follow.
    zone, length = ZoneInfo(free.timezone), timedelta(minutes=free.minutes)
    slots = [
        Slot(start.astimezone(zone), (start + length).astimezone(zone)) for start in free.starts
    ]
    return SlotList(slots, free.timezone, free.travel)


class Slots(CachedRead[SlotsRequest]):
    path = "/api/providers/{provider_id:int}/slots"
    operation_id = "listFreeSlots"
    summary = (
        "The starts at which the service could be booked, on the provider's clock: inside its"
        " hours, clear of its commitments and the drive to and from `lat`/`lng` (default: its"
        " own location), after the notice. Booking one at once succeeds."
    )
    tags = ["providers"]  # noqa: RUF012
    answer = ResponseSpec(SlotList, description="Free slots.", examples=[SLOTS_EXAMPLE])
    errors = (400, 404, 503)

    def __init__(self, window_of: Windows, rules: SlotRules) -> None:
        self.parse = slots_parser(window_of)
        self._rules = rules

    def area(self, request: SlotsRequest) -> list[LatLngBox]:
        return []

    def providers(self, request: SlotsRequest) -> tuple[int, ...]:
        return (request.provider_id,)

    async def render(self, server: PublicServer, request: SlotsRequest) -> Rendered:
        place = None
        if request.latitude is not None and request.longitude is not None:
            place = Point(request.latitude, request.longitude)
        query = SlotsQuery(request.provider_id, request.service_id, request.window, place)
        try:
            free = await server.providers.slots(server.sessions, query, self._rules)
        except NoSuchServiceError as error:
            raise ValidationException(str(error)) from None
        if free is None:
            raise not_found("provider", request.provider_id)
        return Rendered(_slot_list(free), JSON)
