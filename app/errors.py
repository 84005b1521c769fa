"""Domain errors become HTTP errors here, and only here."""

import logging
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import InterfaceError, OperationalError

from db.accounts import DuplicateEmailError
from db.bookings import (
    BookingConflictError,
    BookingNotFoundError,
    BookingRuleError,
    NotTheProviderError,
)
from geo.cursor import InvalidCursorError
from geo.geocoding.base import GeocoderBusyError, GeocoderUnavailableError
from geo.viewport import InvalidViewportError

logger = logging.getLogger(__name__)


Handler = Callable[[Request[Any, Any, Any], Exception], Response[dict[str, object]]]

# How long a client should wait after the upstream geocoder failed us.
GEOCODER_RETRY_AFTER_S = 30


def _error(
    status_code: int, detail: str, retry_after_s: int | None = None
) -> Response[dict[str, object]]:
    headers = {} if retry_after_s is None else {"Retry-After": str(retry_after_s)}
    return Response(
        {"status_code": status_code, "detail": detail}, status_code=status_code, headers=headers
    )


def _status(status_code: int) -> Handler:
    """A handler answering `status_code` with the error's message as the detail."""

    def handler(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, object]]:
        return _error(status_code, str(error))

    return handler


def database_unavailable(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, object]]:
    logger.warning("database unavailable during %s: %s", request.url.path, type(error).__name__)
    return _error(HTTP_503_SERVICE_UNAVAILABLE, "database unavailable, try again shortly", 5)


def geocoder_busy(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, object]]:
    assert isinstance(error, GeocoderBusyError)
    return _error(HTTP_503_SERVICE_UNAVAILABLE, str(error), error.retry_after_s)


def geocoder_unavailable(
    _: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, object]]:
    return _error(HTTP_503_SERVICE_UNAVAILABLE, str(error), GEOCODER_RETRY_AFTER_S)


# Domain errors that are the client's, by the status that answers them.
CLIENT_ERRORS: dict[type[Exception], int] = {
    InvalidCursorError: HTTP_400_BAD_REQUEST,
    InvalidViewportError: HTTP_400_BAD_REQUEST,
    BookingRuleError: HTTP_422_UNPROCESSABLE_ENTITY,
    BookingConflictError: HTTP_409_CONFLICT,
    BookingNotFoundError: HTTP_404_NOT_FOUND,
    NotTheProviderError: HTTP_403_FORBIDDEN,
    DuplicateEmailError: HTTP_409_CONFLICT,
}

EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    **{error: _status(status_code) for error, status_code in CLIENT_ERRORS.items()},
    GeocoderBusyError: geocoder_busy,
    GeocoderUnavailableError: geocoder_unavailable,
    OperationalError: database_unavailable,
    InterfaceError: database_unavailable,
    ConnectionRefusedError: database_unavailable,
}


def _with_subclasses(error: type[Exception]) -> set[type[Exception]]:
    return {error}.union(*(_with_subclasses(sub) for sub in error.__subclasses__()))


# A client error is an answer, not an incident: only server errors are logged, with
# their traceback. (Litestar matches the exact class here, hence the subclasses.)
UNLOGGED_ERRORS: set[int | type[Exception]] = {
    *range(400, 500),
    *set().union(*(_with_subclasses(error) for error in CLIENT_ERRORS)),
}
