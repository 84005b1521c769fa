"""Domain errors become HTTP errors here, and only here."""

import logging
from typing import Any

from litestar import Request, Response
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_409_CONFLICT,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import InterfaceError, OperationalError

from db.accounts import DuplicateEmailError
from geo.cursor import InvalidCursorError
from geo.geocoding.base import GeocoderBusyError, GeocoderUnavailableError
from geo.viewport import InvalidViewportError

logger = logging.getLogger(__name__)


# How long a client should wait after the upstream geocoder failed us.
GEOCODER_RETRY_AFTER_S = 30


def _error(
    status_code: int, detail: str, retry_after_s: int | None = None
) -> Response[dict[str, object]]:
    headers = {} if retry_after_s is None else {"Retry-After": str(retry_after_s)}
    return Response(
        {"status_code": status_code, "detail": detail}, status_code=status_code, headers=headers
    )


def bad_parameter(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, object]]:
    return _error(HTTP_400_BAD_REQUEST, str(error))


def database_unavailable(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, object]]:
    logger.warning("database unavailable during %s: %s", request.url.path, type(error).__name__)
    return _error(HTTP_503_SERVICE_UNAVAILABLE, "database unavailable, try again shortly", 5)


def email_taken(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, object]]:
    return _error(HTTP_409_CONFLICT, "an account with this email exists")


def geocoder_busy(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, object]]:
    assert isinstance(error, GeocoderBusyError)
    return _error(HTTP_503_SERVICE_UNAVAILABLE, str(error), error.retry_after_s)


def geocoder_unavailable(
    _: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, object]]:
    return _error(HTTP_503_SERVICE_UNAVAILABLE, str(error), GEOCODER_RETRY_AFTER_S)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    InvalidCursorError: bad_parameter,
    InvalidViewportError: bad_parameter,
    DuplicateEmailError: email_taken,
    GeocoderBusyError: geocoder_busy,
    GeocoderUnavailableError: geocoder_unavailable,
    OperationalError: database_unavailable,
    InterfaceError: database_unavailable,
    ConnectionRefusedError: database_unavailable,
}
