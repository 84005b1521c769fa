"""What every request body must be before a handler sees it."""

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException


class ApiRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        """The decoded body; a body nested deeper than the decoder goes is a 400 (the
        decoder stops there at once, so refusing it costs nothing)."""
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("the JSON body is nested too deeply") from None
