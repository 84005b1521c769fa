"""The caller's notifications: what happened to their bookings, newest first."""

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest
from app.errors import not_yours
from app.notifications.schemas import MarkedRead, NotificationDetails, NotificationList
from app.paging import next_cursor, start_after
from app.params import Cursor, PageLimit, RowId
from app.settings import PAGE_LIMITS
from db import notifications
from geo.cursor import CursorCodec, TimeKey


class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]  # noqa: RUF012

    @get("/")
    async def mine(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        cursor_codec: NamedDependency[CursorCodec],
        unread: FromQuery[bool] = False,
        limit: PageLimit = PAGE_LIMITS.default_limit,
        cursor: Cursor = None,
    ) -> NotificationList:
        """Newest first; `unread=true` for the unread ones only."""
        scope = f"notifications:{request.user.id}:{unread}"
        after = start_after(cursor_codec, cursor, scope, TimeKey)
        page = await notifications.notifications_page(
            db_session, request.user.id, unread, after, limit
        )
        return NotificationList(
            [NotificationDetails.of(n) for n in page.items],
            next_cursor(cursor_codec, page, scope, lambda last: TimeKey(last.created_at, last.id)),
        )

    @post("/{notification_id:int}/read", status_code=HTTP_204_NO_CONTENT)
    async def mark_read(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        notification_id: RowId,
    ) -> None:
        if not await notifications.mark_read(db_session, request.user.id, notification_id):
            raise not_yours("notification", notification_id)
        await db_session.commit()

    @post("/read-all", status_code=HTTP_200_OK)
    async def mark_all_read(
        self, request: SignedInRequest, db_session: NamedDependency[AsyncSession]
    ) -> MarkedRead:
        marked = MarkedRead(await notifications.mark_all_read(db_session, request.user.id))
        await db_session.commit()
        return marked
