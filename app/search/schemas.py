"""Response bodies of the search endpoints."""

import enum

import msgspec

from db.search import Cluster, ProviderHit, SearchStrategy


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
