"""A provider's working time: weekly hours, and exceptions for single dates.

Reading is public (customers plan visits with it); writing is the owner's. Times are
wall-clock times in the provider's time zone.
"""

from datetime import UTC, date, datetime, timedelta

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest
from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.limits import PROVIDER_WRITES
from app.edge.parameters import RowId
from app.edge.public_reads import commit_public_write
from app.errors import error_responses, not_found, not_yours
from app.hours.schemas import HoursExceptionBody, HoursExceptionList, WeeklyHoursBody
from app.settings import Settings
from db import hours
from db.search_cache import SearchCache


def _check_bookable(day: date, horizon_days: int) -> None:
    # A day of slack on each side: "today" depends on the provider's time zone.
    today = datetime.now(UTC).date()
    if not today - timedelta(days=1) <= day <= today + timedelta(days=horizon_days):
        raise ValidationException(
            f"date must be between today and {horizon_days} days ahead, the booking horizon"
        )


class HoursController(Controller):
    path = "/api/providers/{provider_id:int}/availability"
    tags = ["provider profiles"]  # noqa: RUF012

    @put(
        "/",
        opt=PROVIDER_WRITES,
        operation_id="replaceWeeklyHours",
        responses=error_responses(400, 401, 404, 413, 415, 429, 503),
    )
    async def replace_hours(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        provider_id: RowId,
        data: JSONBody[WeeklyHoursBody],
    ) -> WeeklyHoursBody:
        """Replace the weekly hours (wall-clock times in `timezone`)."""
        weekly = data.as_weekly_hours()
        if not await hours.replace_weekly_hours(db_session, request.user.id, provider_id, weekly):
            raise not_yours("provider", provider_id)
        await commit_public_write(db_session, search_cache, [provider_id])
        return WeeklyHoursBody.of(weekly)

    @get(
        "/",
        opt=PUBLIC,
        security=ANONYMOUS,
        operation_id="getWeeklyHours",
        responses=error_responses(400, 404, 503),
    )
    async def weekly_hours(
        self, db_session: NamedDependency[AsyncSession], provider_id: RowId
    ) -> WeeklyHoursBody:
        """A provider's weekly hours, Monday = 0."""
        weekly = await hours.weekly_hours(db_session, provider_id)
        if weekly is None:
            raise not_found("provider", provider_id)
        return WeeklyHoursBody.of(weekly)

    @post(
        "/exceptions",
        opt=PROVIDER_WRITES,
        operation_id="setHoursException",
        responses=error_responses(400, 401, 404, 413, 415, 429, 503),
    )
    async def set_exception(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        settings: NamedDependency[Settings],
        provider_id: RowId,
        data: JSONBody[HoursExceptionBody],
    ) -> HoursExceptionBody:
        """Close a date, or give it other hours; replaces an earlier exception for the date.

        Bookings already made that day stay: cancel them separately if needed."""
        _check_bookable(data.date, settings.booking_horizon_days)
        if not await hours.set_exception(
            db_session, request.user.id, provider_id, data.as_exception()
        ):
            raise not_yours("provider", provider_id)
        await commit_public_write(db_session, search_cache, [provider_id])
        return data

    @get(
        "/exceptions",
        opt=PUBLIC,
        security=ANONYMOUS,
        operation_id="listHoursExceptions",
        responses=error_responses(400, 404, 503),
    )
    async def exceptions(
        self,
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        provider_id: RowId,
    ) -> HoursExceptionList:
        """The provider's exceptions from today on, by date (at most PAGE_MAX_EXCEPTIONS)."""
        upcoming = await hours.upcoming_exceptions(
            db_session, provider_id, settings.pages.max_exceptions
        )
        if upcoming is None:
            raise not_found("provider", provider_id)
        return HoursExceptionList([HoursExceptionBody.of(exception) for exception in upcoming])

    @delete(
        "/exceptions/{day:date}",
        opt=PROVIDER_WRITES,
        operation_id="removeHoursException",
        responses=error_responses(400, 401, 404, 429, 503),
    )
    async def remove_exception(
        self,
        request: SignedInRequest,
        db_session: NamedDependency[AsyncSession],
        search_cache: NamedDependency[SearchCache],
        provider_id: RowId,
        day: FromPath[date],
    ) -> None:
        """Back to the weekly hours on that date."""
        if not await hours.remove_exception(db_session, request.user.id, provider_id, day):
            raise NotFoundException(f"no exception on {day} among your providers' hours")
        await commit_public_write(db_session, search_cache, [provider_id])
