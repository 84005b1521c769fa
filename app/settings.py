"""Typed settings, read once from the environment (upper-case field names)."""

import enum
import os
from typing import TypeVar

import msgspec

from app.rate_limits import RateLimits
from geo.geocoding.base import GeocoderPolicy

S = TypeVar("S", bound=msgspec.Struct)


class SearchLimits(msgspec.Struct, frozen=True):
    """The one source of every limit a search client controls (env: SEARCH_<FIELD>)."""

    max_radius_km: float = 100.0
    default_radius_km: float = 25.0
    max_limit: int = 100
    default_limit: int = 20
    viewport_max_span_deg: float = 10.0
    clusters_max_cells: int = 4096
    max_zoom: int = 20
    cache_max_age_s: int = 60
    """How long clients and proxies may reuse a search response (Cache-Control)."""
    server_cache_ttl_s: int = 300
    """How long a search response stays in the Redis cache, unless a provider write ends it."""


class PageLimits(msgspec.Struct, frozen=True):
    """Page sizes of a user's own lists, bookings and notifications (env: PAGE_<FIELD>)."""

    max_limit: int = 100
    default_limit: int = 20
    max_exceptions: int = 400
    """How many upcoming exceptions to a provider's hours one listing returns."""


class GeocoderKind(enum.StrEnum):
    gazetteer = "gazetteer"
    nominatim = "nominatim"


def _geocoder_policy() -> GeocoderPolicy:
    return from_env(GeocoderPolicy, prefix="GEOCODER_")


def _rate_limits() -> RateLimits:
    return from_env(RateLimits, prefix="RATE_LIMIT_")


class Settings(msgspec.Struct, frozen=True):
    database_url: str
    redis_url: str
    secret_key: str
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 5.0
    db_statement_timeout_ms: int = 10_000
    access_token_ttl_s: int = 3600
    booking_horizon_days: int = 365
    """How far ahead visits can be booked, and exceptions to opening hours set."""
    geocoder: GeocoderKind = GeocoderKind.gazetteer
    nominatim_url: str = "https://nominatim.openstreetmap.org"
    nominatim_user_agent: str = ""
    """Required with GEOCODER=nominatim: the usage policy asks for a contact in it."""
    geocoder_countrycodes: str = "se,no,dk,fi"
    geocoder_accept_language: str = "sv,nb,da,fi,en"
    geocoder_query_max_length: int = 200
    geocoder_policy: GeocoderPolicy = msgspec.field(default_factory=_geocoder_policy)
    rate_limits: RateLimits = msgspec.field(default_factory=_rate_limits)

    def __post_init__(self) -> None:
        if self.geocoder is GeocoderKind.nominatim and not self.nominatim_user_agent:
            raise ValueError(
                "GEOCODER=nominatim needs NOMINATIM_USER_AGENT with a contact, "
                'e.g. "equinet-geo/0.1 (ops@example.com)"'
            )


def from_env(struct: type[S], prefix: str = "") -> S:
    """Build `struct` from environment variables, converting strings to the field types."""
    values = {
        field: os.environ[prefix + field.upper()]
        for field in struct.__struct_fields__
        if prefix + field.upper() in os.environ
    }
    try:
        return msgspec.convert(values, struct, strict=False)
    except msgspec.ValidationError as error:
        raise SystemExit(f"configuration error: {error}") from None


SEARCH_LIMITS = from_env(SearchLimits, prefix="SEARCH_")
PAGE_LIMITS = from_env(PageLimits, prefix="PAGE_")
