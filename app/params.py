"""Parameter types shared by the domain controllers."""

from typing import Annotated, TypeAlias

from litestar.params import PathParameter

from db.models import MAX_ROW_ID

RowId: TypeAlias = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
"""A row id in a path: anything outside the bigint range is a bad parameter, not a 500."""
