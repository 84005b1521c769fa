"""The query parameters of "orders along my route", bounded by this deployment's limits,
and the deployment's day for route plans."""

from typing import Annotated

import msgspec
from litestar.di import Provide
from litestar.params import Parameter

from app.search.queries import Category
from app.settings import RoutePlanning, SearchLimits
from db.models import ServiceCategory
from db.working_days import DayRules


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
