"""What a request body must be before a handler reads it: JSON, in UTF-8, and of the
handler's body type exactly as JSON writes it (an id is `304`, not `"304"` or `304.0`)."""

import functools
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException

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
            value = await super().json()
        except RecursionError:
            raise ClientException("the JSON body is nested too deeply") from None
        except UnicodeDecodeError as error:
            raise ClientException(f"the JSON body is not UTF-8 (byte {error.start})") from None
        field = self.route_handler.parsed_data_field
        if field is not None:
            self._check_strictly(value, field.annotation)
        return value

    def _check_strictly(self, value: Any, body_type: Any) -> None:
        """Litestar converts a body to its type as it converts query strings, reading
        `"304"` or `304.0` as the id 304: one value, spelled many ways. The body must
        convert without that leniency; what does not is a 400 naming the field."""
        try:
            _strict_check(body_type)(value)
        except msgspec.ValidationError as error:
            message, _, where = str(error).partition(" - at `$")
            raise ValidationException(
                f"Validation failed for {self.method} {self.url.path}",
                extra=[
                    {"message": message, "key": where.rstrip("`").lstrip("."), "source": "body"}
                ],
            ) from None


@functools.cache
def _strict_check(body_type: Any) -> Any:
    return functools.partial(msgspec.convert, type=body_type, strict=True)
