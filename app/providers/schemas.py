"""Response bodies of the provider endpoints."""

import enum
from decimal import Decimal

import msgspec

from db.providers import Cluster, ProviderHit, SearchStrategy


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


class ServiceSummary(msgspec.Struct):
    id: int
    name: str
    category: str
    duration_minutes: int
    price: Decimal


class ProviderProfile(msgspec.Struct):
    id: int
    business_name: str
    description: str
    city: str | None
    latitude: float
    longitude: float
    service_radius_km: float
    categories: list[str]
    services: list[ServiceSummary]
