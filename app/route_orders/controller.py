"""Route orders: customers ask for a visit to their stable on some day in a window."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest, requires_role
from app.edge.paging import ListPage
from app.edge.parameters import RowId
from app.edge.public_reads import PublicServer, commit_public_write, read_public
from app.errors import error_responses, not_yours
from app.geocoding.addresses import locate
from app.route_orders.schemas import (
    AvailableFilters,
    AvailableOrders,
    RouteOrderDetails,
    RouteOrderDraft,
    RouteOrderList,
    RouteOrdersFilters,
)
from app.search.queries import Category, NearbyArea
from app.settings import Settings
from db import accounts, route_orders
from db.models import Role
from db.pages import Page
from db.replica import PublicReads
from db.route_orders import AvailableQuery, OrderHit
from db.search_cache import SearchCache
from db.working_days import Travel
from geo.cursor import CursorCodec, DistanceKey, TimeKey
from geo.distance import Point
from geo.geocoding.chain import GeocoderChain


async def _available_orders(server: PublicServer, query: AvailableQuery) -> Page[OrderHit]:
    return await server.orders.available(server.sessions, query)


class RouteOrderController(Controller):
    path = "/api/route-orders"
    tags = ["route orders"]  # noqa: RUF012

    @post(
        "/",
        guards=[requires_role(Role.customer, Role.admin)],
        operation_id="createRouteOrder",
        responses=error_responses(400, 401, 403, 413, 415, 422, 503),
    )
    async def create(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        settings: NamedDependency[Settings],
        geocoder: NamedDependency[GeocoderChain],
        data: JSONBody[RouteOrderDraft],
    ) -> RouteOrderDetails:
        """An open order; the address is geocoded unless coordinates are sent. 403 until
        the customer's e-mail address is verified."""
        await accounts.require_verified(db_session, request.user.id)
        horizon = datetime.now(UTC).date() + timedelta(days=settings.booking_horizon_days)
        if data.latest > horizon:
            raise ValidationException(
                f"latest must be within the booking horizon ({settings.booking_horizon_days} days)"
            )
        values = data.as_values()
        if data.latitude is None:
            values |= await locate(geocoder, data.address)
        values["address"] = data.address or ""
        order = await route_orders.create_order(db_session, request.user.id, values)
        await commit_public_write(db_session, search_cache)
        return RouteOrderDetails.of(order)

    @get("/mine", operation_id="listMyRouteOrders", responses=error_responses(400, 401, 503))
    async def mine(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        cursor_codec: NamedDependency[CursorCodec],
        list_page: NamedDependency[ListPage],
    ) -> RouteOrderList:
        """The caller's orders, newest first."""
        filters = RouteOrdersFilters(request.user.id)

        after = cursor_codec.after(list_page.cursor, filters, TimeKey)
        page = await route_orders.orders_page(
            db_session, filters.customer_id, after, list_page.limit
        )
        following = cursor_codec.following(
            page.last_key(lambda order: TimeKey(order.created_at, order.id)), filters
        )
        return RouteOrderList([RouteOrderDetails.of(order) for order in page.items], following)

    @get(
        "/available",
        guards=[requires_role(Role.provider, Role.admin)],
        operation_id="listAvailableRouteOrders",
        responses=error_responses(400, 401, 403, 503),
    )
    async def available(
        self,
        public_reads: NamedDependency[PublicReads[PublicServer]],
        cursor_codec: NamedDependency[CursorCodec],
        nearby_area: NamedDependency[NearbyArea],
        day: Annotated[date, QueryParameter(name="date", description="the day of the visit")],
        category: Category = None,
    ) -> AvailableOrders:
        """Open orders whose window holds the day, within `radius_km`, nearest first, ties by
        id: the bounds and the index-ordered scan of provider search."""
        area = nearby_area
        filters = AvailableFilters(area.latitude, area.longitude, area.radius_km, day, category)
        after = cursor_codec.after(area.cursor, filters, DistanceKey)
        center = Point(filters.latitude, filters.longitude)
        query = AvailableQuery(center, filters.radius_km * 1000, day, area.limit, category, after)
        page = await read_public(public_reads, _available_orders, query)
        following = cursor_codec.following(page.last_key(lambda hit: hit.key), filters)
        return AvailableOrders(page.items, following)

    @post(
        "/{order_id:int}/cancel",
        status_code=HTTP_200_OK,
        operation_id="cancelRouteOrder",
        responses=error_responses(400, 401, 404, 409, 503),
    )
    async def cancel(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        travel: NamedDependency[Travel],
        order_id: RowId,
    ) -> RouteOrderDetails:
        """An open order is withdrawn; a planned one also leaves its route, whose other
        stops are rescheduled, and the provider is told."""
        cancelled = await route_orders.cancel_order(db_session, request.user.id, order_id, travel)
        if cancelled is None:
            raise not_yours("route order", order_id)
        rescheduled = [] if cancelled.rescheduled is None else [cancelled.rescheduled]
        await commit_public_write(db_session, search_cache, rescheduled)
        return RouteOrderDetails.of(cancelled.order)
