"""A user's notifications, newest first.

They are written by the change they report, in its transaction: a booking and the
provider's notice of it commit together or not at all.
"""

import enum
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Notification
from db.pages import Page, newest_first
from geo.cursor import TimeKey


class NotificationKind(enum.StrEnum):
    booking_requested = "booking_requested"
    booking_confirmed = "booking_confirmed"
    booking_cancelled = "booking_cancelled"
    route_planned = "route_planned"
    route_unplanned = "route_unplanned"
    route_eta_moved = "route_eta_moved"
    route_order_cancelled = "route_order_cancelled"


async def notify(
    session: AsyncSession, user_id: int, kind: NotificationKind, payload: Mapping[str, Any]
) -> None:
    await session.execute(
        insert(Notification).values(user_id=user_id, kind=kind, payload=dict(payload))
    )


ABOUT_ONE_ORDER_WITHIN = timedelta(minutes=15)
"""A customer hears about one order at most once in this long: the latest news replaces
a notice younger than that."""


async def notify_about_order(
    session: AsyncSession,
    user_id: int,
    kind: NotificationKind,
    payload: Mapping[str, Any],
    order_id: int,
) -> None:
    """Tell the user the news of their route order `order_id`: as a new notification, or,
    if they were told of it less than ABOUT_ONE_ORDER_WITHIN ago, in place of that one
    (unread again), so that a provider planning and unplanning a day over and over sends
    one notice, not dozens. The caller holds the order's lock, so two changes of one
    order never both insert."""
    newest = (
        select(Notification.id)
        .where(
            Notification.user_id == user_id,
            Notification.payload["route_order_id"].as_integer() == order_id,
            Notification.created_at > func.now() - ABOUT_ONE_ORDER_WITHIN,
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    replaced = (
        update(Notification)
        .where(Notification.id == newest)
        .values(kind=kind, payload=dict(payload), is_read=False)
        .returning(Notification.id)
    )
    if (await session.execute(replaced)).first() is None:
        await notify(session, user_id, kind, payload)


def notifications_statement(
    user_id: int, unread_only: bool, after: TimeKey | None, limit: int
) -> Select[Notification]:
    """Newest first, then by id; `after` is the last item of the previous page."""
    statement = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        statement = statement.where(Notification.is_read.is_(False))
    return newest_first(statement, Notification.created_at, Notification.id, after, limit)


async def notifications_page(
    session: AsyncSession, user_id: int, unread_only: bool, after: TimeKey | None, limit: int
) -> Page[Notification]:
    statement = notifications_statement(user_id, unread_only, after, limit + 1)
    return Page.of((await session.scalars(statement)).all(), limit)


async def mark_read(session: AsyncSession, user_id: int, notification_id: int) -> bool:
    """False if the user has no such notification."""
    statement = (
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .values(is_read=True)
        .returning(Notification.id)
    )
    return (await session.execute(statement)).first() is not None


async def mark_all_read(session: AsyncSession, user_id: int) -> int:
    """How many were unread."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.is_read.is_(False))
        .values(is_read=True)
    )
    return cast(CursorResult[Any], result).rowcount
