"""Booking visits, and the customer's and the provider's views of them.

Overlaps are refused by the database (see db.bookings): a request that loses the race
for a slot gets 409, never a 5xx, and needs no retry on the server.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest
from app.bookings.schemas import BookingDetails, BookingDraft, BookingList, BookingsFilters
from app.edge.limits import limited
from app.edge.paging import ListPage
from app.edge.parameters import RowId
from app.edge.public_reads import commit_public_write
from app.errors import error_responses, not_yours
from app.geocoding.addresses import locate
from app.settings import Settings
from db import accounts, bookings
from db.bookings import BookingsQuery, Side
from db.models import Booking, BookingStatus, Role
from db.search_cache import SearchCache
from db.working_days import Travel
from geo.cursor import CursorCodec, TimeKey
from geo.distance import Point
from geo.geocoding.chain import GeocoderChain

SideParam = Annotated[
    Side | None,
    QueryParameter(
        name="as", description="customer or provider; by default the side of the account's role"
    ),
]
StartsFrom = Annotated[
    datetime | None, QueryParameter(description="only visits starting then or later (ISO 8601)")
]


def bookings_filters(
    request: SignedInRequest,
    side: SideParam = None,
    status: FromQuery[BookingStatus | None] = None,
    starts_from: StartsFrom = None,
) -> BookingsFilters:
    if starts_from is not None and starts_from.tzinfo is None:
        raise ValidationException("starts_from needs a UTC offset, e.g. 2027-01-01T00:00Z")
    if starts_from is not None:
        try:
            starts_from = starts_from.astimezone(UTC)
        except OverflowError:
            raise ValidationException("starts_from is out of range") from None
    if side is None:
        side = Side.provider if request.user.role is Role.provider else Side.customer
    return BookingsFilters(request.user.id, side, status, starts_from)


async def _changed(
    db_session: AsyncSession,
    booking: Booking | None,
    booking_id: int,
    frees_time_of: SearchCache | None = None,
) -> BookingDetails:
    """The booking a change of the caller's left, committed; 404 if it isn't theirs. A
    change that frees the provider's time ends the cached reads of it in `frees_time_of`."""
    if booking is None:
        raise not_yours("booking", booking_id)
    if frees_time_of is None:
        await db_session.commit()
    else:
        await commit_public_write(db_session, frees_time_of, [booking.provider_id])
    return BookingDetails.of(booking)


class BookingController(Controller):
    path = "/api/bookings"
    tags = ["bookings"]  # noqa: RUF012

    @post(
        "/",
        opt=limited(per_user=("booking",)),
        operation_id="createBooking",
        responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
    )
    async def book(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        travel: NamedDependency[Travel],
        geocoder: NamedDependency[GeocoderChain],
        search_cache: NamedDependency[SearchCache],
        data: JSONBody[BookingDraft],
    ) -> BookingDetails:
        """Book a visit: 409 if it overlaps a booking or a route visit of the provider, or
        the provider could not drive to it or on from it in time; 422 if it is outside the
        provider's hours or its address can't be located; 403 until the customer's e-mail
        address is verified. The provider is notified."""
        await accounts.require_verified(db_session, request.user.id)
        horizon = timedelta(days=settings.booking_horizon_days)
        place = data.point
        if data.address is not None:
            located = await locate(geocoder, data.address)
            place = Point(located["latitude"], located["longitude"])
        draft = data.as_request(place)
        booking = await bookings.book(db_session, request.user.id, draft, horizon, travel)
        await commit_public_write(db_session, search_cache, [booking.provider_id])
        return BookingDetails.of(booking)

    @get(
        "/",
        dependencies={"bookings_filters": Provide(bookings_filters, sync_to_thread=False)},
        operation_id="listMyBookings",
        responses=error_responses(400, 401, 503),
    )
    async def mine(
        self,
        db_session: NamedDependency[AsyncSession],
        cursor_codec: NamedDependency[CursorCodec],
        bookings_filters: NamedDependency[BookingsFilters],
        list_page: NamedDependency[ListPage],
    ) -> BookingList:
        """The caller's bookings as customer or as provider, by start time."""
        filters = bookings_filters

        after = cursor_codec.after(list_page.cursor, filters, TimeKey)
        query = BookingsQuery(
            filters.side, list_page.limit, filters.status, filters.starts_from, after
        )
        page = await bookings.bookings_page(db_session, filters.user_id, query)
        following = cursor_codec.following(page.last_key(lambda b: TimeKey(b.start, b.id)), filters)
        return BookingList([BookingDetails.of(booking) for booking in page.items], following)

    @post(
        "/{booking_id:int}/cancel",
        status_code=HTTP_200_OK,
        operation_id="cancelBooking",
        responses=error_responses(400, 401, 404, 409, 503),
    )
    async def cancel(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        booking_id: RowId,
    ) -> BookingDetails:
        """Cancel, as customer or provider, before the visit starts; frees the slot and
        notifies the other party."""
        booking = await bookings.cancel(db_session, request.user.id, booking_id)
        return await _changed(db_session, booking, booking_id, frees_time_of=search_cache)

    @post(
        "/{booking_id:int}/confirm",
        status_code=HTTP_200_OK,
        operation_id="confirmBooking",
        responses=error_responses(400, 401, 403, 404, 409, 503),
    )
    async def confirm(
        self, request: SignedInRequest, db_session: NamedDependency[AsyncSession], booking_id: RowId
    ) -> BookingDetails:
        """Confirm a pending booking of one's own provider; notifies the customer."""
        booking = await bookings.confirm(db_session, request.user.id, booking_id)
        return await _changed(db_session, booking, booking_id)

    @post(
        "/{booking_id:int}/complete",
        status_code=HTTP_200_OK,
        operation_id="completeBooking",
        responses=error_responses(400, 401, 403, 404, 409, 503),
    )
    async def complete(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        booking_id: RowId,
    ) -> BookingDetails:
        """Mark a booking of one's own provider completed, once its visit has started."""
        booking = await bookings.complete(db_session, request.user.id, booking_id)
        return await _changed(db_session, booking, booking_id, frees_time_of=search_cache)
