"""Day routes: a provider plans a day through open orders, and reads it back."""

import itertools
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest, requires_role
from app.edge.formats import GEOJSON, GEOJSON_TOO, Format, ResponseFormat
from app.edge.limits import limited
from app.edge.paging import ListPage
from app.edge.parameters import RowId
from app.edge.public_reads import commit_public_write
from app.errors import error_responses, not_yours
from app.exports.files import MEDIA_TYPES, route_gpx
from app.routes.queries import Corridor
from app.routes.schemas import (
    PlannedRoute,
    RouteChange,
    RouteDetails,
    RouteList,
    RouteRequest,
    RoutesFilters,
    StopRequest,
    route_features,
    route_geojson,
    route_path,
)
from app.settings import Settings
from db import routes
from db.models import Role
from db.nearest import lent
from db.route_orders import CorridorQuery, OpenOrderSearch, OrdersAlong
from db.routes import PlanLimits
from db.search_cache import SearchCache
from db.working_days import Travel
from geo.cursor import CursorCodec, IdKey
from geo.geojson import feature_collection

ROUTE_PLANS = limited(per_user=("route_plan",))
"""Plans and re-plans, per user: each claims or frees orders and tells their customers."""


async def _committed(
    session: AsyncSession, search_cache: SearchCache, owner_id: int, route_id: int
) -> RouteDetails:
    """The route as a change of its visits left it, committed: the cached reads of its
    provider's free time end."""
    route = await _route(session, owner_id, route_id)
    await commit_public_write(session, search_cache, [route.provider_id])
    return route


async def _route(session: AsyncSession, owner_id: int, route_id: int) -> RouteDetails:
    route = await routes.owned_route(session, owner_id, route_id)
    if route is None:
        raise not_yours("route", route_id)
    return RouteDetails.of(route)


async def _as_asked(
    body: msgspec.Struct, geojson: Callable[[], Awaitable[dict[str, Any]]], form: ResponseFormat
) -> Response[Any]:
    if form is ResponseFormat.geojson:
        return Response(await geojson(), media_type=GEOJSON)
    return Response(body)


def _limits(settings: Settings) -> PlanLimits:
    return PlanLimits(settings.routes.max_radius_km, settings.routes.max_orders_per_day)


def _check_stop_count(settings: Settings, order_ids: list[int]) -> None:
    if len(order_ids) > settings.routes.max_stops:
        raise ValidationException(f"a route has at most {settings.routes.max_stops} stops")


class RouteController(Controller):
    path = "/api/routes"
    tags = ["routes"]  # noqa: RUF012
    guards = [requires_role(Role.provider, Role.admin)]  # noqa: RUF012

    @post(
        "/",
        operation_id="planRoute",
        opt=ROUTE_PLANS,
        responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    )
    async def plan(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        settings: NamedDependency[Settings],
        travel: NamedDependency[Travel],
        data: JSONBody[RouteRequest],
    ) -> PlannedRoute:
        """Claim the orders for the day (409 naming one another route holds) and plan it
        on the provider's clock: inside the day's opening hours, around its bookings and
        other visits, with a break, each visit inside its order's window; tell each
        customer when to expect the provider. Orders that do not fit come back in
        `unassigned` with the reason and stay open; 422 if none fits."""
        _check_stop_count(settings, data.route_order_ids)
        draft = data.as_draft()
        planned = await routes.plan_route(
            db_session, request.user.id, draft, travel, _limits(settings)
        )
        if planned is None:
            raise not_yours("provider", data.provider_id)
        await commit_public_write(db_session, search_cache, [data.provider_id])
        route = await _route(db_session, request.user.id, planned.route_id)
        return PlannedRoute.planned(route, planned.unassigned)

    @get(
        "/",
        operation_id="listRoutesOfDay",
        responses={
            HTTP_200_OK: ResponseSpec(RouteList, description=GEOJSON_TOO),
            **error_responses(400, 401, 403, 503),
        },
    )
    async def of_day(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        travel: NamedDependency[Travel],
        cursor_codec: NamedDependency[CursorCodec],
        list_page: NamedDependency[ListPage],
        day: Annotated[date, QueryParameter(name="date", description="the routes' day")],
        format_: Format = ResponseFormat.json,
    ) -> Response[Any]:
        """The routes of the caller's providers on the day, by id, with all their stops."""
        filters = RoutesFilters(request.user.id, day)

        after = cursor_codec.after(list_page.cursor, filters, IdKey)
        page = await routes.routes_of_day(db_session, filters.owner_id, day, after, list_page.limit)
        following = cursor_codec.following(page.last_key(lambda r: IdKey(r.id)), filters)
        listed = [RouteDetails.of(route) for route in page.items]

        async def geojson() -> dict[str, Any]:
            features = [
                route_features(r, await travel.matrix(db_session).streets(route_path(r)))
                for r in listed
            ]
            return feature_collection(
                itertools.chain.from_iterable(features), next_cursor=following
            )

        return await _as_asked(RouteList(listed, following), geojson, format_)

    @get(
        "/{route_id:int}/gpx",
        operation_id="getRouteGpx",
        media_type=MEDIA_TYPES["gpx"],
        responses=error_responses(400, 401, 404, 503),
    )
    async def gpx(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        travel: NamedDependency[Travel],
        route_id: RowId,
    ) -> Response[str]:
        """The route for a GPS device (GPX 1.1): its stops as waypoints, with their
        arrival times, and its line from start to end as a track, along the streets as
        the GeoJSON line."""
        route = await _route(db_session, request.user.id, route_id)
        streets = await travel.matrix(db_session).streets(route_path(route))
        disposition = f'attachment; filename="route-{route.id}-{route.date}.gpx"'
        return Response(
            route_gpx(route, streets).to_xml(version="1.1"),
            media_type=MEDIA_TYPES["gpx"],
            headers={"Content-Disposition": disposition},
        )

    @get(
        "/{route_id:int}",
        operation_id="getRoute",
        responses={
            HTTP_200_OK: ResponseSpec(RouteDetails, description=GEOJSON_TOO),
            **error_responses(400, 401, 403, 404, 503),
        },
    )
    async def route(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        travel: NamedDependency[Travel],
        route_id: RowId,
        format_: Format = ResponseFormat.json,
    ) -> Response[Any]:
        """The route with its stops in visiting order; as GeoJSON, its start, stops and
        line: each leg along the streets it drives when the roads measured it, else
        along its great circle."""
        route = await _route(db_session, request.user.id, route_id)

        async def geojson() -> dict[str, Any]:
            streets = await travel.matrix(db_session).streets(route_path(route))
            return route_geojson(route, streets)

        return await _as_asked(route, geojson, format_)

    @get(
        "/{route_id:int}/nearby-orders",
        operation_id="listOrdersAlongRoute",
        responses=error_responses(400, 401, 403, 404, 503),
    )
    async def orders_along(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        order_search: NamedDependency[OpenOrderSearch],
        corridor: NamedDependency[Corridor],
        travel: NamedDependency[Travel],
        route_id: RowId,
    ) -> OrdersAlong:
        """Open orders wanted on the route's day within `corridor_km` of its line and in no
        route, each with the detour a visit would add at its cheapest place in the stops,
        smallest detour first, ties by id."""
        route = await routes.owned_route(db_session, request.user.id, route_id)
        if route is None:
            raise not_yours("route", route_id)
        query = CorridorQuery(
            path=[route.start, *(stop.order.point for stop in route.stops)],
            corridor_m=corridor.corridor_km * 1000,
            day=route.date,
            limit=corridor.limit,
            weighed=settings.routes.corridor_weighed,
            category=corridor.category,
        )
        return await order_search.along(lent(db_session), query, travel.matrix(db_session))

    @patch(
        "/{route_id:int}",
        operation_id="changeRouteStops",
        opt=ROUTE_PLANS,
        responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    )
    async def change_stops(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        settings: NamedDependency[Settings],
        travel: NamedDependency[Travel],
        route_id: RowId,
        data: JSONBody[RouteChange],
    ) -> RouteDetails:
        """Reorder the stops, or drop some (their orders open again and their customers are
        told); legs, arrivals and the total are measured anew. A visit made stays."""
        _check_stop_count(settings, data.route_order_ids)
        changed = await routes.change_stops(
            db_session, request.user.id, route_id, data.route_order_ids, travel
        )
        if not changed:
            raise not_yours("route", route_id)
        return await _committed(db_session, search_cache, request.user.id, route_id)

    @post(
        "/{route_id:int}/stops",
        status_code=HTTP_200_OK,
        operation_id="insertRouteStop",
        opt=ROUTE_PLANS,
        responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    )
    async def insert_stop(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        settings: NamedDependency[Settings],
        travel: NamedDependency[Travel],
        route_id: RowId,
        data: JSONBody[StopRequest],
    ) -> RouteDetails:
        """Claim one more open order (409 if another route holds it) and visit it where the
        day drives least, every other visit in its order, windows, hours and bookings
        kept; 422 with the reason if it fits nowhere. Customers whose visit moves by more
        than 15 minutes are told."""
        inserted = await routes.insert_stop(
            db_session, request.user.id, route_id, data.route_order_id, travel, _limits(settings)
        )
        if not inserted:
            raise not_yours("route", route_id)
        return await _committed(db_session, search_cache, request.user.id, route_id)

    @post(
        "/{route_id:int}/optimize",
        status_code=HTTP_200_OK,
        operation_id="optimizeRoute",
        opt=ROUTE_PLANS,
        responses=error_responses(400, 401, 403, 404, 409, 422, 429, 503),
    )
    async def optimize(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        travel: NamedDependency[Travel],
        route_id: RowId,
    ) -> RouteDetails:
        """Plan the rest of the day anew: the visits made stay first and as they were, the
        others go in the order that drives least (kept as they are if none is shorter).
        Customers whose visit moves by more than 15 minutes are told."""
        if not await routes.optimize_route(db_session, request.user.id, route_id, travel):
            raise not_yours("route", route_id)
        return await _committed(db_session, search_cache, request.user.id, route_id)

    @post(
        "/{route_id:int}/stops/{order_id:int}/done",
        status_code=HTTP_200_OK,
        operation_id="completeRouteStop",
        responses=error_responses(400, 401, 403, 404, 409, 503),
    )
    async def complete_stop(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        route_id: RowId,
        order_id: RowId,
    ) -> RouteDetails:
        """The visit is made: the stop and its order are done, and the route once every
        stop is."""
        if not await routes.complete_stop(db_session, request.user.id, route_id, order_id):
            raise not_yours("route stop", f"{route_id}/{order_id}")
        return await _committed(db_session, search_cache, request.user.id, route_id)
