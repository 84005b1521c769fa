"""Request and response bodies of provider profiles and their services."""

from datetime import time
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from app.edge.parameters import NAME, PROSE, LatitudeField, LongitudeField, canonical_coordinates
from app.hours.schemas import ClockTime
from app.views import View
from db.models import ServiceCategory


class ServiceSummary(View):
    id: int
    name: str
    category: str
    duration_minutes: int
    price: Decimal


class ProviderProfile(View):
    """The public projection: no owner, no street address."""

    id: int
    business_name: str
    description: str
    city: str | None
    latitude: float
    longitude: float
    service_radius_km: float
    categories: list[str]
    services: list[ServiceSummary]


BusinessName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME)]
Description = Annotated[str, msgspec.Meta(max_length=5000, pattern=PROSE)]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=NAME)]
City = Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=NAME)]
PostalCode = Annotated[str, msgspec.Meta(min_length=1, max_length=20, pattern=NAME)]
ServiceRadiusKm = Annotated[float, msgspec.Meta(gt=0, le=500)]


ADDRESS_FIELDS = ("address", "postal_code", "city")


class PartialUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A body whose unset fields stay as they are."""

    def values(self) -> dict[str, Any]:
        """The fields that were sent, as column values."""
        return {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not msgspec.UNSET
        }


class ProviderDraft(msgspec.Struct, forbid_unknown_fields=True):
    """A new provider. Without coordinates, the address (or city) is geocoded."""

    business_name: BusinessName
    description: Description = ""
    address: Address | None = None
    city: City | None = None
    postal_code: PostalCode | None = None
    latitude: LatitudeField | None = None
    longitude: LongitudeField | None = None
    service_radius_km: ServiceRadiusKm = 50.0

    def __post_init__(self) -> None:
        canonical_coordinates(self)
        if self.latitude is None and not (self.address or self.city):
            raise ValueError("send latitude and longitude, or an address or city to locate")


class RouteBreak(msgspec.Struct, forbid_unknown_fields=True):
    """The provider's break on a day route: `minutes` long (0: none), starting and ending
    between `from` and `until` on its clock."""

    minutes: Annotated[int, msgspec.Meta(ge=0, le=240)]
    from_: ClockTime = msgspec.field(name="from")
    until: ClockTime

    def __post_init__(self) -> None:
        if self.from_ >= self.until:
            raise ValueError(f"from ({self.from_}) must be before until ({self.until})")

    def columns(self) -> dict[str, Any]:
        return {
            "break_minutes": self.minutes,
            "break_from": time.fromisoformat(self.from_),
            "break_until": time.fromisoformat(self.until),
        }


NO_OWN_BREAK = {"break_minutes": None, "break_from": None, "break_until": None}


class ProviderChanges(PartialUpdate):
    """A partial update. Changing the address without coordinates re-geocodes it."""

    business_name: BusinessName | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType | None = msgspec.UNSET
    city: City | msgspec.UnsetType | None = msgspec.UNSET
    postal_code: PostalCode | msgspec.UnsetType | None = msgspec.UNSET
    latitude: LatitudeField | msgspec.UnsetType = msgspec.UNSET
    longitude: LongitudeField | msgspec.UnsetType = msgspec.UNSET
    service_radius_km: ServiceRadiusKm | msgspec.UnsetType = msgspec.UNSET
    route_break: RouteBreak | msgspec.UnsetType | None = msgspec.UNSET
    """The break day routes keep; null: the deployment's (ROUTE_BREAK_*)."""

    def __post_init__(self) -> None:
        canonical_coordinates(self)

    def values(self) -> dict[str, Any]:
        values = super().values()
        if "route_break" in values:
            chosen = values.pop("route_break")
            values |= NO_OWN_BREAK if chosen is None else chosen.columns()
        return values

    @property
    def moves_address(self) -> bool:
        return any(getattr(self, name) is not msgspec.UNSET for name in ADDRESS_FIELDS)


ServiceName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME)]
DurationMinutes = Annotated[int, msgspec.Meta(ge=5, le=24 * 60)]
Price = Annotated[Decimal, msgspec.Meta(description="0 to 1000000, at most two decimals")]
MAX_PRICE = Decimal(1_000_000)


def _check_price(price: Decimal | msgspec.UnsetType) -> None:
    # msgspec cannot bound a Decimal declaratively.
    if isinstance(price, Decimal) and not (
        price.is_finite() and 0 <= price <= MAX_PRICE and price == price.quantize(Decimal("0.01"))
    ):
        raise ValueError("price must be between 0 and 1000000 with at most two decimals")


class ServiceDraft(msgspec.Struct, forbid_unknown_fields=True):
    name: ServiceName
    category: ServiceCategory
    duration_minutes: DurationMinutes
    price: Price

    def __post_init__(self) -> None:
        _check_price(self.price)


class ServiceChanges(PartialUpdate):
    name: ServiceName | msgspec.UnsetType = msgspec.UNSET
    category: ServiceCategory | msgspec.UnsetType = msgspec.UNSET
    duration_minutes: DurationMinutes | msgspec.UnsetType = msgspec.UNSET
    price: Price | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        _check_price(self.price)
