"""Free time: when a provider could come, reckoned in PostgreSQL by migration 0016's
functions (made in 0012) from the opening hours, the exceptions and the commitments with
their places, the drives between them on the roads where a network covers them.

A slot is what a booking would accept (db.bookings): inside one opening interval of its
local date, clear of every active commitment by the drive between the two places, not
in the past, not past the booking horizon. Slots also start on a step of the clock and
leave a notice: a customer is not offered a visit in ten minutes' time.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    case,
    func,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import Function

from db.models import Provider, Service
from geo.distance import Point
from geo.travel import TravelBy


@dataclass(frozen=True, slots=True)
class SlotRules:
    """This deployment's terms for offering a slot."""

    step_minutes: int
    notice: timedelta
    horizon: timedelta
    speed_kmh: float
    """The travel speed along the great circle, as bookings check it (ROUTE_SPEED_KMH)."""
    on_roads: bool
    """Drives on the loaded road network where it covers the places (ROUTING=roads)."""


@dataclass(frozen=True, slots=True)
class Window:
    """Local dates of the provider's, first and last included."""

    first_day: date
    last_day: date


def _free_time_values(rules: SlotRules, window: Window, place: Point | None) -> dict[str, Any]:
    """The values of the parameters `_ARGUMENTS` names, for a request now."""
    now = datetime.now(UTC)
    return {
        "first_day": window.first_day,
        "last_day": window.last_day,
        "at_lat": None if place is None else place.latitude,
        "at_lng": None if place is None else place.longitude,
        "not_before": now + rules.notice,
        "not_after": now + rules.horizon,
        "step_minutes": rules.step_minutes,
        "speed_kmh": rules.speed_kmh,
        "on_roads": rules.on_roads,
    }


_AT_LAT, _AT_LNG = bindparam("at_lat", type_=Float), bindparam("at_lng", type_=Float)
_ON_ROADS = bindparam("on_roads", type_=Boolean)
_ARGUMENTS = (
    bindparam("first_day", type_=Date),
    bindparam("last_day", type_=Date),
    _AT_LAT,
    _AT_LNG,
    bindparam("not_before", type_=DateTime(timezone=True)),
    bindparam("not_after", type_=DateTime(timezone=True)),
    bindparam("step_minutes", type_=Integer),
    bindparam("speed_kmh", type_=Float),
    _ON_ROADS,
)


def travel_to(latitude: Any, longitude: Any) -> ColumnElement[str]:
    """What measured the drives to a visit there (geo.travel.TravelBy): the roads when
    they are used and the place is on the network, else the great circle."""
    vertex = select(func.road_snap(latitude, longitude).table_valued("vertex").c.vertex)
    on_roads = and_(_ON_ROADS, vertex.scalar_subquery().is_not(None))
    return case((on_roads, TravelBy.roads.value), else_=TravelBy.great_circle.value)


def first_free(provider_id: Any) -> Function[Any]:
    """The earliest slot of the provider's shortest active service of the bound `category`
    (None for any): columns service_id, slot_start, slot_end."""
    category = bindparam("category", type_=Text)
    return func.first_free_slot(provider_id, category, *_ARGUMENTS)


def first_free_travel() -> ColumnElement[str]:
    """What measured the drives of first_free's slots: those to the bound place."""
    return travel_to(_AT_LAT, _AT_LNG)


def first_free_values(
    rules: SlotRules, window: Window, place: Point, category: str | None
) -> dict[str, Any]:
    return _free_time_values(rules, window, place) | {"category": category}


class NoSuchServiceError(Exception):
    """The provider offers no active service of that id."""


@dataclass(frozen=True, slots=True)
class SlotsQuery:
    provider_id: int
    service_id: int
    window: Window
    place: Point | None
    """The stable visited; None: the provider's own location."""


def _slots_statement() -> Select[Any]:
    offered = and_(
        Service.id == bindparam("service_id", type_=BigInteger),
        Service.provider_id == Provider.id,
        Service.is_active,
    )
    slots = (
        func.provider_slots(Provider.id, Service.duration_minutes, *_ARGUMENTS)
        .table_valued("slot_start", "slot_end")
        .lateral()
    )
    travel = travel_to(
        func.coalesce(_AT_LAT, Provider.latitude), func.coalesce(_AT_LNG, Provider.longitude)
    )
    return (
        select(Provider.timezone, Service.duration_minutes, travel, slots.c.slot_start)
        .select_from(Provider)
        .outerjoin(Service, offered)
        .outerjoin(slots, true())
        .where(Provider.id == bindparam("provider_id", type_=BigInteger), Provider.is_active)
        .order_by(slots.c.slot_start)
    )


SLOTS = _slots_statement()
"""A row per free slot of the provider's service, in time order: the provider's time
zone, the service's minutes, what measured the drives (geo.travel.TravelBy) and the
slot's start. One row with no start when none is
free, and no minutes either when the provider offers no such active service; no row
for no active provider."""


def slots_values(rules: SlotRules, query: SlotsQuery) -> dict[str, Any]:
    values = _free_time_values(rules, query.window, query.place)
    return values | {"provider_id": query.provider_id, "service_id": query.service_id}


@dataclass(frozen=True, slots=True)
class FreeSlots:
    timezone: str
    minutes: int
    travel: TravelBy
    starts: list[datetime]
