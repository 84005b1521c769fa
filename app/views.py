"""Response bodies filled from models."""

from typing import Self

import msgspec


class View(msgspec.Struct):
    """A response body whose fields are read from the same-named attributes of a model.

    Only the declared fields are read, so a view can't leak a column it doesn't name."""

    @classmethod
    def of(cls, source: object) -> Self:
        return msgspec.convert(source, cls, from_attributes=True)
