"""A user's calendar in the tools they already use: a personal, revocable iCalendar feed
(RFC 5545) that phone and desktop calendars subscribe to."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest
from app.edge.headers import ANONYMOUS, PUBLIC
from app.errors import error_responses, not_found
from app.exports.files import MEDIA_TYPES, ExportRow, IcsWriter
from app.settings import Settings
from db import calendar, exports
from db.models import Role

FEED_PAST_DAYS = 30
FEED_MAX_EVENTS = 2000
"""Per kind: a feed holds at most this many bookings, and this many routes."""


class FeedLink(msgspec.Struct):
    url: str
    """The feed's path: add it to a calendar app after the API's address. Keep it secret:
    anyone with it can read the calendar, until a new one is made or it is revoked."""


class CalendarFeedController(Controller):
    path = "/api/me/calendar-feed"
    tags = ["calendar"]  # noqa: RUF012

    @post("/", status_code=201, operation_id="newCalendarFeed", responses=error_responses(401, 503))
    async def new(
        self, request: SignedInRequest, db_session: NamedDependency[AsyncSession]
    ) -> FeedLink:
        """A new feed URL; the previous one stops working."""
        token = await calendar.new_feed(db_session, request.user.id)
        await db_session.commit()
        return FeedLink(f"/api/calendar/{token}.ics")

    @delete("/", operation_id="revokeCalendarFeed", responses=error_responses(401, 404, 503))
    async def revoke(
        self, request: SignedInRequest, db_session: NamedDependency[AsyncSession]
    ) -> None:
        """The feed URL stops working."""
        if not await calendar.revoke(db_session, request.user.id):
            raise not_found("calendar feed of", request.user.id)
        await db_session.commit()


class CalendarController(Controller):
    path = "/api/calendar"
    tags = ["calendar"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS

    @get(
        "/{feed:str}",
        operation_id="getCalendarFeed",
        responses=error_responses(400, 404, 503),
    )
    async def feed(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        feed: Annotated[str, PathParameter(max_length=120)],
    ) -> Response[str]:
        """`{token}.ics`: the owner's visits from 30 days ago to the booking horizon, on
        the providers' clocks: a customer's bookings; a provider's bookings and route
        visits."""
        token, dot, suffix = feed.rpartition(".")
        owner = dot and suffix == "ics" and await calendar.feed_owner(db_session, token)
        if not owner:
            raise not_found("calendar feed", "")
        user_id, role = owner
        today = datetime.now(UTC).date()
        span = {
            "from_date": today - timedelta(days=FEED_PAST_DAYS),
            "to_date": today + timedelta(days=settings.booking_horizon_days),
        }
        kinds = ["bookings", "routes"] if role is Role.provider else ["bookings"]
        out = IcsWriter()
        parts = [out.head()]
        for kind in kinds:
            wanted = exports.Wanted(kind, user_id, **span)
            statement = exports.rows_statement(wanted, role).limit(FEED_MAX_EVENTS)
            rows = (await db_session.execute(statement)).all()
            parts.append(out.rows([ExportRow(*row) for row in rows]))
        parts.append(out.tail())
        headers = {"Cache-Control": "private, max-age=300"}
        return Response("".join(parts), media_type=MEDIA_TYPES["ics"], headers=headers)
