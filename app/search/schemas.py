"""Response bodies of the search endpoints, with the examples the OpenAPI document shows."""

import msgspec
from litestar.openapi.spec import Example

from db.search import AvailableHit, Cluster, ProviderHit
from geo.strategies import SearchStrategy


class NearbyPage(msgspec.Struct):
    items: list[ProviderHit]
    next_cursor: str | None
    strategy: SearchStrategy


class AvailablePage(msgspec.Struct):
    items: list[AvailableHit]
    next_cursor: str | None


class InViewPage(msgspec.Struct):
    items: list[ProviderHit]
    truncated: bool
    """More providers are in the viewport than were returned (nearest its center first)."""
    next_cursor: None = None
    """Always null: a viewport is one page."""


class ClusterList(msgspec.Struct):
    items: list[Cluster]
    zoom: int
    cell_size_deg: float


_HIT = {
    "id": 1713,
    "business_name": "Stockholm hästtjänst 1713",
    "city": "Stockholm",
    "latitude": 59.3301,
    "longitude": 18.0702,
    "distance_m": 112.4,
    "categories": ["farrier", "vet"],
}
NEARBY_EXAMPLE = Example(
    summary="The nearest providers, and the cursor of the next page",
    value={"items": [_HIT], "next_cursor": "kpLLQFAJomyWdibOAA5z…", "strategy": "gist"},
)
AVAILABLE_EXAMPLE = Example(
    summary="The nearest providers free in the window, each with its first free slot",
    value={
        "items": [
            _HIT
            | {
                "first_free": {
                    "start": "2027-03-29T10:15:00+02:00",
                    "end": "2027-03-29T11:15:00+02:00",
                    "service_id": 4711,
                    "travel": "roads",
                }
            }
        ],
        "next_cursor": "kpLLQFAJomyWdibOAA5z…",
    },
)
IN_VIEW_EXAMPLE = Example(
    summary="Providers in a viewport, nearest its center first",
    value={"items": [_HIT], "next_cursor": None, "truncated": True},
)
CLUSTERS_EXAMPLE = Example(
    summary="Counts and centroids per grid cell",
    value={
        "items": [{"latitude": 59.41, "longitude": 17.93, "count": 812}],
        "zoom": 5,
        "cell_size_deg": 2.8125,
    },
)
