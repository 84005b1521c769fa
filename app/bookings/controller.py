"""Booking visits, and the customer's and the provider's views of them.

Overlaps are refused by the database (see db.bookings): a request that loses the race
for a slot gets 409, never a 5xx, and needs no retry on the server.
"""

from datetime import datetime, timedelta
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest
from app.bookings.schemas import BookingDetails, BookingDraft, BookingList
from app.errors import not_yours
from app.paging import next_cursor, start_after
from app.params import Cursor, PageLimit, RowId
from app.rate_limits import rate_limited, signed_in_user
from app.settings import PAGE_LIMITS, Settings
from db import bookings
from db.bookings import BookingsQuery, Side
from db.models import BookingStatus, Role
from geo.cursor import CursorCodec, TimeKey

SideParam = Annotated[
    Side | None,
    QueryParameter(
        name="as", description="customer or provider; by default the side of the account's role"
    ),
]
StartsFrom = Annotated[
    datetime | None, QueryParameter(description="only visits starting then or later (ISO 8601)")
]


class BookingController(Controller):
    path = "/api/bookings"
    tags = ["bookings"]  # noqa: RUF012

    @post("/", guards=[rate_limited("booking", signed_in_user)])
    async def book(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        data: JSONBody[BookingDraft],
    ) -> BookingDetails:
        """Book a visit: 409 if it overlaps an active booking of the provider, 422 if it
        is outside the provider's hours. The provider is notified."""
        horizon = timedelta(days=settings.booking_horizon_days)
        booking = await bookings.book(db_session, request.user.id, data.as_request(), horizon)
        await db_session.commit()
        return BookingDetails.of(booking)

    @get("/")
    async def mine(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        cursor_codec: NamedDependency[CursorCodec],
        side: SideParam = None,
        status: FromQuery[BookingStatus | None] = None,
        starts_from: StartsFrom = None,
        limit: PageLimit = PAGE_LIMITS.default_limit,
        cursor: Cursor = None,
    ) -> BookingList:
        """The caller's bookings as customer or as provider, by start time."""
        if starts_from is not None and starts_from.tzinfo is None:
            raise ValidationException("starts_from needs a UTC offset, e.g. 2027-01-01T00:00Z")
        if side is None:
            side = Side.provider if request.user.role is Role.provider else Side.customer
        scope = f"bookings:{request.user.id}:{side}:{status}:{starts_from}"
        after = start_after(cursor_codec, cursor, scope, TimeKey)
        query = BookingsQuery(side, limit, status, starts_from, after)
        page = await bookings.bookings_page(db_session, request.user.id, query)
        return BookingList(
            [BookingDetails.of(booking) for booking in page.items],
            next_cursor(cursor_codec, page, scope, lambda last: TimeKey(last.start, last.id)),
        )

    @post("/{booking_id:int}/cancel", status_code=HTTP_200_OK)
    async def cancel(
        self, request: SignedInRequest, db_session: NamedDependency[AsyncSession], booking_id: RowId
    ) -> BookingDetails:
        """Cancel, as customer or provider, before the visit starts; frees the slot and
        notifies the other party."""
        booking = await bookings.cancel(db_session, request.user.id, booking_id)
        if booking is None:
            raise not_yours("booking", booking_id)
        await db_session.commit()
        return BookingDetails.of(booking)

    @post("/{booking_id:int}/confirm", status_code=HTTP_200_OK)
    async def confirm(
        self, request: SignedInRequest, db_session: NamedDependency[AsyncSession], booking_id: RowId
    ) -> BookingDetails:
        """Confirm a pending booking of one's own provider; notifies the customer."""
        booking = await bookings.confirm(db_session, request.user.id, booking_id)
        if booking is None:
            raise not_yours("booking", booking_id)
        await db_session.commit()
        return BookingDetails.of(booking)
