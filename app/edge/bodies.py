"""What a request body must be before a handler reads it."""

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

from app.errors import UnsupportedMediaTypeException


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class ApiRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        """The decoded body. Only a JSON media type is read as JSON: a cross-site form can
        post text/plain, never application/json. A body nested deeper than the decoder
        goes, or not in UTF-8, is a 400 (the decoder stops there at once, so refusing it
        costs nothing)."""
        media_type, _ = self.content_type
        if not _is_json(media_type.casefold()):
            raise UnsupportedMediaTypeException(
                f"the body must be application/json, not {media_type or 'unlabelled'}"
            )
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("the JSON body is nested too deeply") from None
        except UnicodeDecodeError as error:
            raise ClientException(f"the JSON body is not UTF-8 (byte {error.start})") from None
