"""Response bodies of the notification endpoints."""

from datetime import datetime
from typing import Any

import msgspec

from app.views import View


class NotificationDetails(View):
    id: int
    kind: str
    payload: dict[str, Any]
    is_read: bool
    created_at: datetime


class NotificationList(msgspec.Struct):
    items: list[NotificationDetails]
    next_cursor: str | None


class MarkedRead(msgspec.Struct):
    updated: int
    """How many notifications were unread."""


class NotificationsFilters(msgspec.Struct, frozen=True, tag=True):
    """Whose notifications, all or unread: a cursor of the list belongs to these."""

    user_id: int
    unread: bool
