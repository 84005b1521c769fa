"""Request and response bodies of the route-order endpoints."""

from datetime import UTC, date, datetime
from typing import Annotated

import msgspec

from app.edge.parameters import NAME, PROSE, LatitudeField, LongitudeField, canonical_coordinates
from app.views import View
from db.models import RouteOrderStatus, ServiceCategory
from db.route_orders import OrderHit

# A visit is asked for within weeks, not seasons: a longer window would keep an order
# "open" in every provider's list for months.
MAX_WINDOW_DAYS = 60


class RouteOrderDraft(msgspec.Struct, forbid_unknown_fields=True):
    """A visit to ask for. Without coordinates, the address is geocoded."""

    category: ServiceCategory
    earliest: Annotated[date, msgspec.Meta(description="first day the visit may happen on")]
    latest: Annotated[date, msgspec.Meta(description="last day, included")]
    latitude: LatitudeField | None = None
    longitude: LongitudeField | None = None
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=NAME)] | None = None
    notes: Annotated[str, msgspec.Meta(max_length=2000, pattern=PROSE)] = ""

    def __post_init__(self) -> None:
        canonical_coordinates(self)
        if self.latitude is None and self.address is None:
            raise ValueError("send latitude and longitude, or an address to locate")
        if self.latest < self.earliest:
            raise ValueError("latest must not be before earliest")
        if (self.latest - self.earliest).days >= MAX_WINDOW_DAYS:
            raise ValueError(f"the window may span at most {MAX_WINDOW_DAYS} days")
        if self.latest < datetime.now(UTC).date():
            raise ValueError("the window has passed")


class RouteOrderDetails(View):
    id: int
    category: str
    latitude: float
    longitude: float
    address: str
    earliest: date
    latest: date
    status: RouteOrderStatus
    notes: str
    created_at: datetime


class RouteOrderList(msgspec.Struct):
    items: list[RouteOrderDetails]
    next_cursor: str | None


class RouteOrdersFilters(msgspec.Struct, frozen=True, tag=True):
    """Whose route orders: a cursor of the list belongs to these."""

    customer_id: int


class AvailableOrders(msgspec.Struct):
    items: list[OrderHit]
    next_cursor: str | None


class AvailableFilters(msgspec.Struct, frozen=True, tag=True):
    """What a page of available orders is a page of: its cursor belongs to these."""

    latitude: float
    longitude: float
    radius_km: float
    day: date
    category: ServiceCategory | None
