"""Customers' route orders: a visit to a stable, for a kind of service, on some day in a window."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import RouteOrder, RouteOrderStatus
from db.pages import Page, newest_first
from geo.cursor import TimeKey


class RouteOrderStateError(Exception):
    """The order is past the state the change needs (done or cancelled already)."""


async def create_order(
    session: AsyncSession, customer_id: int, values: Mapping[str, Any]
) -> RouteOrder:
    statement = insert(RouteOrder).values(customer_id=customer_id, **values).returning(RouteOrder)
    order: RouteOrder = (await session.scalars(statement)).one()
    return order


def orders_statement(
    customer_id: int, after: TimeKey | None, limit: int
) -> Select[tuple[RouteOrder]]:
    """Newest first, then by id; `after` is the last item of the previous page."""
    statement = select(RouteOrder).where(RouteOrder.customer_id == customer_id)
    return newest_first(statement, RouteOrder.created_at, RouteOrder.id, after, limit)


async def orders_page(
    session: AsyncSession, customer_id: int, after: TimeKey | None, limit: int
) -> Page[RouteOrder]:
    statement = orders_statement(customer_id, after, limit + 1)
    return Page.of((await session.scalars(statement)).all(), limit)


async def cancel_order(session: AsyncSession, customer_id: int, order_id: int) -> RouteOrder | None:
    """The cancelled order; None if the customer has no such order.

    Raises RouteOrderStateError for an order that is done or cancelled already.
    """
    mine = (RouteOrder.id == order_id, RouteOrder.customer_id == customer_id)
    cancelled = (
        await session.scalars(
            update(RouteOrder)
            .where(*mine, RouteOrder.status == RouteOrderStatus.open)
            .values(status=RouteOrderStatus.cancelled)
            .returning(RouteOrder)
        )
    ).one_or_none()
    if cancelled is not None:
        return cancelled
    status = await session.scalar(select(RouteOrder.status).where(*mine))
    if status is None:
        return None
    raise RouteOrderStateError(f"route order {order_id} is {status}: it can't be cancelled")
