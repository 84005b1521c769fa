"""Domain errors become HTTP errors here, and only here."""

import logging
from typing import Any

from litestar import Request, Response
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import InterfaceError, OperationalError

from geo.cursor import InvalidCursorError
from geo.viewport import InvalidViewportError

logger = logging.getLogger(__name__)


def _error(status_code: int, detail: str) -> Response[dict[str, object]]:
    return Response({"status_code": status_code, "detail": detail}, status_code=status_code)


def bad_parameter(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, object]]:
    return _error(HTTP_400_BAD_REQUEST, str(error))


def database_unavailable(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, object]]:
    logger.warning("database unavailable during %s: %s", request.url.path, type(error).__name__)
    response = _error(HTTP_503_SERVICE_UNAVAILABLE, "database unavailable, try again shortly")
    response.headers["Retry-After"] = "5"
    return response


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    InvalidCursorError: bad_parameter,
    InvalidViewportError: bad_parameter,
    OperationalError: database_unavailable,
    InterfaceError: database_unavailable,
    ConnectionRefusedError: database_unavailable,
}
