"""The caller's notifications: what happened to their bookings, newest first."""

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import AuthUser
from app.notifications.schemas import MarkedRead, NotificationDetails, NotificationList
from app.params import Cursor, PageLimit, RowId
from app.settings import PAGE_LIMITS
from db import notifications
from geo.cursor import CursorCodec, TimeKey

Caller = Request[AuthUser, Token, Any]


class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]  # noqa: RUF012

    @get("/")
    async def mine(
        self,
        request: Caller,
        db_session: NamedDependency[AsyncSession],
        cursor_codec: NamedDependency[CursorCodec],
        unread: FromQuery[bool] = False,
        limit: PageLimit = PAGE_LIMITS.default_limit,
        cursor: Cursor = None,
    ) -> NotificationList:
        """Newest first; `unread=true` for the unread ones only."""
        scope = f"notifications:{request.user.id}:{unread}"
        after = cursor_codec.decode(cursor, scope, TimeKey) if cursor else None
        page = await notifications.notifications_page(
            db_session, request.user.id, unread, after, limit
        )
        last = page.items[-1] if page.has_more else None
        return NotificationList(
            [NotificationDetails.of(n) for n in page.items],
            cursor_codec.encode(TimeKey(last.created_at, last.id), scope) if last else None,
        )

    @post("/{notification_id:int}/read", status_code=HTTP_204_NO_CONTENT)
    async def mark_read(
        self, request: Caller, db_session: NamedDependency[AsyncSession], notification_id: RowId
    ) -> None:
        if not await notifications.mark_read(db_session, request.user.id, notification_id):
            raise NotFoundException(f"notification {notification_id} not found")

    @post("/read-all", status_code=HTTP_200_OK)
    async def mark_all_read(
        self, request: Caller, db_session: NamedDependency[AsyncSession]
    ) -> MarkedRead:
        return MarkedRead(await notifications.mark_all_read(db_session, request.user.id))
