"""Typed settings, read once from the environment (upper-case field names)."""

import os
from typing import TypeVar

import msgspec

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


class Settings(msgspec.Struct, frozen=True):
    database_url: str
    redis_url: str
    secret_key: str
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 5.0
    db_statement_timeout_ms: int = 10_000


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
