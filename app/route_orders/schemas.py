"""Request and response bodies of the route-order endpoints."""

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Self, cast

import msgspec

from app.edge.parameters import NAME, PROSE, LatitudeField, LongitudeField, canonical_coordinates
from app.hours.schemas import ClockTime, clock_text
from app.views import View
from db.models import RouteOrder, RouteOrderStatus, ServiceCategory
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
    arrive_after: Annotated[
        ClockTime | None,
        msgspec.Meta(description="the earliest arrival the stable allows, the provider's clock"),
    ] = None
    arrive_before: Annotated[ClockTime | None, msgspec.Meta(description="the latest")] = None
    horses: Annotated[int, msgspec.Meta(ge=1, le=20, description="horses to see")] = 1

    def __post_init__(self) -> None:
        canonical_coordinates(self)
        if self.arrive_after and self.arrive_before and self.arrive_after >= self.arrive_before:
            raise ValueError("arrive_after must be before arrive_before")
        if self.latitude is None and self.address is None:
            raise ValueError("send latitude and longitude, or an address to locate")
        if self.latest < self.earliest:
            raise ValueError("latest must not be before earliest")
        if (self.latest - self.earliest).days >= MAX_WINDOW_DAYS:
            raise ValueError(f"the window may span at most {MAX_WINDOW_DAYS} days")
        if self.latest < datetime.now(UTC).date():
            raise ValueError("the window has passed")

    def as_values(self) -> dict[str, Any]:
        """The order's columns as sent (an address is located by the caller)."""
        values = msgspec.structs.asdict(self)
        for bound in ("arrive_after", "arrive_before"):
            if values[bound] is not None:
                values[bound] = time.fromisoformat(values[bound])
        return values


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
    arrive_after: str | None
    """HH:MM on the provider's clock, or null."""
    arrive_before: str | None
    horses: int
    created_at: datetime

    @classmethod
    def of(cls, source: object) -> Self:
        order = cast(RouteOrder, source)
        clock = {
            bound: None if value is None else clock_text(value)
            for bound, value in (
                ("arrive_after", order.arrive_after),
                ("arrive_before", order.arrive_before),
            )
        }
        fields = {name: getattr(order, name) for name in cls.__struct_fields__} | clock
        return msgspec.convert(fields, cls)


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
