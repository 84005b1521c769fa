"""The caller's notifications: what happened to their bookings, newest first."""

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest
from app.edge.paging import ListPage
from app.edge.parameters import RowId
from app.errors import error_responses, not_yours
from app.notifications.schemas import (
    MarkedRead,
    NotificationDetails,
    NotificationList,
    NotificationsFilters,
)
from db import notifications
from geo.cursor import CursorCodec, TimeKey


class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]  # noqa: RUF012

    @get("/", operation_id="listMyNotifications", responses=error_responses(400, 401, 503))
    async def mine(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        cursor_codec: NamedDependency[CursorCodec],
        list_page: NamedDependency[ListPage],
        unread: FromQuery[bool] = False,
    ) -> NotificationList:
        """Newest first; `unread=true` for the unread ones only."""
        filters = NotificationsFilters(request.user.id, unread)

        after = cursor_codec.after(list_page.cursor, filters, TimeKey)
        page = await notifications.notifications_page(
            db_session, filters.user_id, filters.unread, after, list_page.limit
        )
        following = cursor_codec.following(
            page.last_key(lambda n: TimeKey(n.created_at, n.id)), filters
        )
        return NotificationList([NotificationDetails.of(n) for n in page.items], following)

    @post(
        "/{notification_id:int}/read",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="markNotificationRead",
        responses=error_responses(400, 401, 404, 503),
    )
    async def mark_read(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        notification_id: RowId,
    ) -> None:
        if not await notifications.mark_read(db_session, request.user.id, notification_id):
            raise not_yours("notification", notification_id)
        await db_session.commit()

    @post(
        "/read-all",
        status_code=HTTP_200_OK,
        operation_id="markAllNotificationsRead",
        responses=error_responses(401, 503),
    )
    async def mark_all_read(
        self, request: SignedInRequest, db_session: NamedDependency[AsyncSession]
    ) -> MarkedRead:
        marked = MarkedRead(await notifications.mark_all_read(db_session, request.user.id))
        await db_session.commit()
        return marked
