"""How a failure becomes an HTTP answer: one convention, followed by every domain.

- **No such row of yours.** db/ returns None (or False for a write that matched nothing)
  when the row asked for does not exist, is inactive, or belongs to someone else; the
  three are one answer. The controller raises `not_yours()` or `not_found()` from here:
  404, and nothing said about whose the row is.
- **An answer that must say why.** db/ and geo/ raise a domain error of their own (a
  booking outside the hours, a slot taken, a forged cursor). `CLIENT_ERRORS` below maps
  each to its status, once; controllers neither catch nor translate them.
- **Controllers raise only Litestar's HTTP exceptions** (and the three it lacks, defined
  here: 409, 415 and 422), never an error class of their own and never a hand-built response.
- **Dependencies that are down** (the database, the upstream geocoder) and work the API
  will not take on now (too many costly searches at once) answer 503 with `Retry-After`,
  here, and say so in the log once a minute, as a warning without a traceback, not once a
  request.

Every error body has one shape, `ErrorBody`: Litestar's `{"status_code", "detail"}`, plus
`extra` on validation errors, naming the offending parameters or fields.
"""

import logging
import traceback
from collections.abc import Callable
from typing import Any

import msgspec
from asyncpg import PostgresError
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_409_CONFLICT,
    HTTP_410_GONE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from db.accounts import AccountInUseError, DuplicateEmailError, UnverifiedError
from db.bookings import BookingConflictError, BookingRuleError, NotTheProviderError
from db.commitments import TimeTakenError
from db.engine import LOCK_NOT_AVAILABLE, is_unavailable, sqlstate
from db.exports import ExportsUnderWayError
from db.route_orders import RouteOrderStateError
from db.routes import OrderTakenError, RouteRuleError, RouteStateError
from db.working_days import ClosedDayError
from geo.cursor import InvalidCursorError
from geo.geocoding.base import GeocoderBusyError, GeocoderUnavailableError
from geo.log_throttle import ThrottledWarning
from geo.tiles import InvalidTileError
from geo.viewport import InvalidViewportError

logger = logging.getLogger(__name__)


class ConflictException(HTTPException):
    """409: the request collides with the current state (a taken email, a taken slot)."""

    status_code = HTTP_409_CONFLICT


class GoneException(HTTPException):
    """410: it was there and is no more (an export's file past its time)."""

    status_code = HTTP_410_GONE


class UnprocessableException(HTTPException):
    """422: well-formed, but the domain can't act on it (an address nobody can locate)."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY


class UnsupportedMediaTypeException(HTTPException):
    """415: a body in a media type the endpoint does not read (anything but JSON)."""

    status_code = HTTP_415_UNSUPPORTED_MEDIA_TYPE


def not_found(kind: str, row_id: object) -> NotFoundException:
    return NotFoundException(f"{kind} {row_id} not found")


def not_yours(kind: str, row_id: object) -> NotFoundException:
    """404 for a row the caller may not change: missing, inactive or someone else's."""
    return NotFoundException(f"{kind} {row_id} not found among your {kind}s")


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """The body of every error answer."""

    status_code: int
    detail: str
    extra: list[dict[str, Any]] | dict[str, Any] | None = None
    """On validation errors: each offending parameter or field, and what is wrong with it."""


# What each error status means, wherever it is answered (the OpenAPI document says it).
ERROR_MEANINGS = {
    400: "A parameter or field is malformed or out of range; `extra` names each one.",
    401: "No valid bearer token.",
    403: "The account's role does not allow this, or its e-mail address is not verified yet.",
    404: "No such row, or not one the caller may see or change.",
    409: "The request collides with the current state (a taken email or slot, a wrong status).",
    410: "It was there and is no more: an export's file past its time.",
    413: "The body is larger than this deployment reads (BODY_MAX_BYTES).",
    415: "The body is not JSON: send `Content-Type: application/json`.",
    422: "Well-formed, but against a business rule; `detail` says which.",
    429: "Rate limited: retry after the seconds in the Retry-After header.",
    503: "The database or the upstream geocoder is unavailable: retry after Retry-After.",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The OpenAPI `responses` of a handler that may answer these error statuses (and 429:
    every API request counts against its client's limit)."""
    return {
        status: ResponseSpec(ErrorBody, description=ERROR_MEANINGS[status], generate_examples=False)
        for status in sorted({*statuses, 429})
    }


Handler = Callable[[Request[Any, Any, Any], Exception], Response[ErrorBody]]

# How long a client should wait after the upstream geocoder failed us.
GEOCODER_RETRY_AFTER_S = 30


def _error(
    status_code: int,
    detail: str,
    retry_after_s: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[ErrorBody]:
    headers = {} if retry_after_s is None else {"Retry-After": str(retry_after_s)}
    body = ErrorBody(status_code, detail, extra)
    return Response(body, status_code=status_code, headers=headers)


def _status(status_code: int) -> Handler:
    """A handler answering `status_code` with the error's message as the detail (and its
    `extra`, if it has one)."""

    def handler(_: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
        return _error(status_code, str(error), extra=getattr(error, "extra", None))

    return handler


def _described(error: Exception) -> str:
    """The error's kind, SQLSTATE, statement and traceback, but not its message: the
    driver's messages quote the values that failed (an email, a password hash)."""
    cause: BaseException = error
    if isinstance(error, DBAPIError) and error.orig is not None:
        cause = error.orig.__cause__ or error.orig  # the driver's own, under the adapter's
    statement = getattr(error, "statement", None)
    return "".join(
        [
            f"{type(cause).__name__} (SQLSTATE {getattr(cause, 'sqlstate', None)})",
            f" in {statement!r}\n" if statement else "\n",
            *traceback.format_tb(error.__traceback__),
        ]
    )


def database_error_handler() -> Handler:
    """503 while the database is down, restarting, out of connections or too slow, said
    in the log once a minute; any other database error is a bug: 500, logged with its
    statement and traceback but never a value."""
    warn = ThrottledWarning(logger)

    def handler(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
        if isinstance(error, PoolTimeoutError):
            warn("database pool exhausted (%s)", request.url.path)
            return _error(HTTP_503_SERVICE_UNAVAILABLE, "database busy, try again shortly", 1)
        if sqlstate(error) == LOCK_NOT_AVAILABLE:
            warn("lock not had within the lock timeout (%s)", request.url.path)
            return _error(HTTP_503_SERVICE_UNAVAILABLE, "database busy, try again shortly", 1)
        if is_unavailable(error):
            warn("database unavailable (%s): %s", request.url.path, type(error).__name__)
            return _error(
                HTTP_503_SERVICE_UNAVAILABLE, "database unavailable, try again shortly", 5
            )
        logger.error("database error during %s: %s", request.url.path, _described(error))
        return _error(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")

    return handler


# An error body echoes what the client sent only this far: a 400 about a 60 KB query
# string is a few hundred bytes, not the query string again.
DETAIL_MAX_CHARS = 300
EXTRA_MAX_ITEMS = 20


def _clipped(value: object) -> object:
    if isinstance(value, str) and len(value) > DETAIL_MAX_CHARS:
        return value[:DETAIL_MAX_CHARS] + "…"
    if isinstance(value, dict):
        return {
            _clipped(key): _clipped(item) for key, item in list(value.items())[:EXTRA_MAX_ITEMS]
        }
    if isinstance(value, list):
        return [_clipped(item) for item in value[:EXTRA_MAX_ITEMS]]
    return value


def http_error_handler() -> Handler:
    """Litestar's answer to its HTTP exceptions, bounded: a validation error names the
    path but not the query string, and no echoed value runs on. A 503 the API chose to
    answer (too many costly searches at once) is said in the log once a minute."""
    warn = ThrottledWarning(logger)

    def handler(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
        assert isinstance(error, HTTPException)
        detail = error.detail
        if isinstance(error, ValidationException) and request.url.query:
            detail = detail.replace(f"?{request.url.query}", "")  # Litestar quotes the URL
        if error.status_code == HTTP_503_SERVICE_UNAVAILABLE:
            warn("answered 503 (%s): %s", request.url.path, detail)
        return Response(
            ErrorBody(error.status_code, str(_clipped(detail)), _clipped(error.extra)),  # type: ignore[arg-type]
            status_code=error.status_code,
            headers=error.headers,
        )

    return handler


def out_of_range(_: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
    """A date or number a client sent that no calculation can hold (year 1 less a day)."""
    return _error(HTTP_400_BAD_REQUEST, "a value is out of range")


def geocoder_error_handler() -> Handler:
    """503 while the upstream geocoder is busy (its queue is full) or failing, said in the
    log once a minute."""
    warn = ThrottledWarning(logger)

    def handler(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
        warn("geocoder answered 503 (%s): %s", request.url.path, error)
        retry_after_s = getattr(error, "retry_after_s", GEOCODER_RETRY_AFTER_S)
        return _error(HTTP_503_SERVICE_UNAVAILABLE, str(error), retry_after_s)

    return handler


# Domain errors that are the client's, by the status that answers them.
CLIENT_ERRORS: dict[type[Exception], int] = {
    InvalidCursorError: HTTP_400_BAD_REQUEST,
    InvalidViewportError: HTTP_400_BAD_REQUEST,
    InvalidTileError: HTTP_400_BAD_REQUEST,
    BookingRuleError: HTTP_422_UNPROCESSABLE_ENTITY,
    BookingConflictError: HTTP_409_CONFLICT,
    TimeTakenError: HTTP_409_CONFLICT,
    NotTheProviderError: HTTP_403_FORBIDDEN,
    DuplicateEmailError: HTTP_409_CONFLICT,
    ExportsUnderWayError: HTTP_409_CONFLICT,
    UnverifiedError: HTTP_403_FORBIDDEN,
    AccountInUseError: HTTP_409_CONFLICT,
    RouteOrderStateError: HTTP_409_CONFLICT,
    OrderTakenError: HTTP_409_CONFLICT,
    RouteRuleError: HTTP_422_UNPROCESSABLE_ENTITY,
    ClosedDayError: HTTP_422_UNPROCESSABLE_ENTITY,
    RouteStateError: HTTP_409_CONFLICT,
}

# Raised by the database, its driver (a connection refused while PostgreSQL restarts is
# the driver's own error, not wrapped) or the pool.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    PostgresError,
    PoolTimeoutError,
    ConnectionError,
)


GEOCODER_ERRORS: tuple[type[Exception], ...] = (GeocoderBusyError, GeocoderUnavailableError)


def exception_handlers() -> ExceptionHandlersMap:
    """One app's handlers (each app logs the database's absence on its own clock)."""
    return {
        HTTPException: http_error_handler(),
        **{error: _status(status_code) for error, status_code in CLIENT_ERRORS.items()},
        OverflowError: out_of_range,
        **dict.fromkeys(GEOCODER_ERRORS, geocoder_error_handler()),
        **dict.fromkeys(DATABASE_ERRORS, database_error_handler()),
    }


def _with_subclasses(error: type[Exception]) -> set[type[Exception]]:
    return {error}.union(*(_with_subclasses(sub) for sub in error.__subclasses__()))


# A client error is an answer, not an incident: only server errors are logged, with
# their traceback. A 503 the API chose to answer, and database and geocoder errors, are
# logged by their handlers: once a minute while a dependency is away, with a traceback
# when it is a bug. (Litestar matches the exact class here, hence the subclasses.)
UNLOGGED_ERRORS: set[int | type[Exception]] = {
    *range(400, 500),
    HTTP_503_SERVICE_UNAVAILABLE,
    *set().union(
        *(
            _with_subclasses(error)
            for error in (*CLIENT_ERRORS, *DATABASE_ERRORS, *GEOCODER_ERRORS, OverflowError)
        )
    ),
}
