"""The query parameters of "orders along my route", bounded by this deployment's limits,
and the deployment's day and travel for route plans."""

from collections.abc import Callable
from typing import Annotated

import msgspec
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.search.queries import Category
from app.settings import RoutePlanning, Routing, SearchLimits, Settings
from db.models import ServiceCategory
from db.roads.matrix import KeptDrives, RoadMatrix
from db.working_days import DayRules
from geo.travel import DistanceMatrix, GreatCircleMatrix


class Corridor(msgspec.Struct, frozen=True):
    """How far from a route's line to look, for what, and how many orders to answer."""

    corridor_km: float
    category: ServiceCategory | None
    limit: int


def corridor_dependency(routes: RoutePlanning, search: SearchLimits) -> Provide:
    CorridorKm = Annotated[
        float, Parameter(gt=0, le=routes.max_corridor_km, description="from the route's line")
    ]
    Limit = Annotated[int, Parameter(ge=1, le=search.max_limit, description="orders answered")]

    def corridor(
        corridor_km: CorridorKm = routes.default_corridor_km,
        category: Category = None,
        limit: Limit = search.default_limit,
    ) -> Corridor:
        return Corridor(corridor_km, category, limit)

    return Provide(corridor, sync_to_thread=False)


def day_rules(routes: RoutePlanning) -> DayRules:
    return DayRules((routes.day_start, routes.day_end), routes.break_minutes, routes.break_span())


def route_matrices(
    settings: Settings, kept: KeptDrives
) -> Callable[[AsyncSession], DistanceMatrix]:
    """Drives on the roads (which fall back to the great circle where none are loaded),
    unless ROUTING=great_circle."""
    speed_kmh = settings.routes.speed_kmh
    if settings.routing is Routing.great_circle:
        straight = GreatCircleMatrix(speed_kmh)
        return lambda _: straight
    return lambda session: RoadMatrix(session, speed_kmh, kept)
