"""Response bodies of the notification endpoints."""

from datetime import datetime
from typing import Any

import msgspec

from db.models import Notification


class NotificationDetails(msgspec.Struct):
    id: int
    kind: str
    payload: dict[str, Any]
    is_read: bool
    created_at: datetime

    @classmethod
    def of(cls, notification: Notification) -> "NotificationDetails":
        return cls(
            notification.id,
            notification.kind,
            notification.payload,
            notification.is_read,
            notification.created_at,
        )


class NotificationList(msgspec.Struct):
    items: list[NotificationDetails]
    next_cursor: str | None


class MarkedRead(msgspec.Struct):
    updated: int
    """How many notifications were unread."""
