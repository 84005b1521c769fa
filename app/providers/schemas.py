"""Response bodies of the provider endpoints."""

import datetime as dt
import enum
import itertools
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.views import View
from db.models import ServiceCategory
from db.providers import Cluster, ProviderHit, SearchStrategy
from geo.opening_hours import HoursException, OpeningHours, WeeklyHours


class ResponseFormat(enum.StrEnum):
    json = "json"
    geojson = "geojson"


class NearbyPage(msgspec.Struct):
    items: list[ProviderHit]
    next_cursor: str | None
    strategy: SearchStrategy


class InViewPage(msgspec.Struct):
    items: list[ProviderHit]
    next_cursor: None
    truncated: bool
    """More providers are in the viewport than were returned (nearest its center first)."""


class ClusterList(msgspec.Struct):
    items: list[Cluster]
    zoom: int
    cell_size_deg: float


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


Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
BusinessName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=5000)]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
City = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
PostalCode = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
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


def _check_coordinates(latitude: object, longitude: object) -> None:
    if (latitude is None or latitude is msgspec.UNSET) != (
        longitude is None or longitude is msgspec.UNSET
    ):
        raise ValueError("send latitude and longitude together")


class ProviderDraft(msgspec.Struct, forbid_unknown_fields=True):
    """A new provider. Without coordinates, the address (or city) is geocoded."""

    business_name: BusinessName
    description: Description = ""
    address: Address | None = None
    city: City | None = None
    postal_code: PostalCode | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    service_radius_km: ServiceRadiusKm = 50.0

    def __post_init__(self) -> None:
        _check_coordinates(self.latitude, self.longitude)
        if self.latitude is None and not (self.address or self.city):
            raise ValueError("send latitude and longitude, or an address or city to locate")


class ProviderChanges(PartialUpdate):
    """A partial update. Changing the address without coordinates re-geocodes it."""

    business_name: BusinessName | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType | None = msgspec.UNSET
    city: City | msgspec.UnsetType | None = msgspec.UNSET
    postal_code: PostalCode | msgspec.UnsetType | None = msgspec.UNSET
    latitude: Latitude | msgspec.UnsetType = msgspec.UNSET
    longitude: Longitude | msgspec.UnsetType = msgspec.UNSET
    service_radius_km: ServiceRadiusKm | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        _check_coordinates(self.latitude, self.longitude)

    @property
    def moves_address(self) -> bool:
        return any(getattr(self, name) is not msgspec.UNSET for name in ADDRESS_FIELDS)


ServiceName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
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


ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["08:00"])]


def _check_interval(opens: str, closes: str) -> None:
    if opens >= closes:
        raise ValueError(f"opens ({opens}) must be before closes ({closes})")


def _clock(value: dt.time) -> str:
    return value.strftime("%H:%M")


class OpeningHoursBody(msgspec.Struct, forbid_unknown_fields=True):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6, description="Monday = 0")]
    opens: ClockTime
    closes: ClockTime

    def __post_init__(self) -> None:
        _check_interval(self.opens, self.closes)

    def as_hours(self) -> OpeningHours:
        return OpeningHours(
            self.weekday, dt.time.fromisoformat(self.opens), dt.time.fromisoformat(self.closes)
        )


class WeeklyHoursBody(msgspec.Struct, forbid_unknown_fields=True):
    """A provider's weekly hours as wall-clock times in `timezone` (an IANA zone name)."""

    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "Europe/Stockholm"
    weekly: Annotated[list[OpeningHoursBody], msgspec.Meta(max_length=7 * 6)] = msgspec.field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        by_start = sorted(self.weekly, key=lambda h: (h.weekday, h.opens))
        for earlier, later in itertools.pairwise(by_start):
            if earlier.weekday == later.weekday and later.opens < earlier.closes:
                raise ValueError(f"hours overlap on weekday {later.weekday}")

    def as_weekly_hours(self) -> WeeklyHours:
        return WeeklyHours(self.timezone, [h.as_hours() for h in self.weekly])

    @classmethod
    def of(cls, weekly: WeeklyHours) -> "WeeklyHoursBody":
        return cls(
            weekly.timezone,
            [OpeningHoursBody(h.weekday, _clock(h.opens), _clock(h.closes)) for h in weekly.hours],
        )


class HoursExceptionBody(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One date's hours instead of the weekly ones: `{"date", "closed": true}` for closed
    all day, or `{"date", "opens", "closes"}` (local times, the provider's time zone)."""

    date: dt.date
    closed: bool = False
    opens: ClockTime | None = None
    closes: ClockTime | None = None

    def __post_init__(self) -> None:
        if self.closed:
            if self.opens is not None or self.closes is not None:
                raise ValueError("a closed date has no opens or closes")
        elif self.opens is None or self.closes is None:
            raise ValueError('send "closed": true, or both opens and closes')
        else:
            _check_interval(self.opens, self.closes)

    def as_exception(self) -> HoursException:
        if self.opens is None or self.closes is None:
            return HoursException(self.date, None)
        return HoursException(
            self.date, (dt.time.fromisoformat(self.opens), dt.time.fromisoformat(self.closes))
        )

    @classmethod
    def of(cls, exception: HoursException) -> "HoursExceptionBody":
        if exception.hours is None:
            return cls(exception.day, closed=True)
        opens, closes = exception.hours
        return cls(exception.day, opens=_clock(opens), closes=_clock(closes))


class HoursExceptionList(msgspec.Struct):
    items: list[HoursExceptionBody]
    next_cursor: None = None
