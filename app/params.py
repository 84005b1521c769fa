"""Parameter types shared by the domain controllers."""

from typing import Annotated, TypeAlias

import msgspec
from litestar.params import Parameter, PathParameter

from app.settings import PAGE_LIMITS
from db.models import MAX_ROW_ID

RowId: TypeAlias = Annotated[int, PathParameter(ge=1, le=MAX_ROW_ID)]
"""A row id in a path: anything outside the bigint range is a bad parameter, not a 500."""

RowIdField: TypeAlias = Annotated[int, msgspec.Meta(ge=1, le=MAX_ROW_ID)]
"""A row id in a request body."""

PageLimit: TypeAlias = Annotated[int, Parameter(ge=1, le=PAGE_LIMITS.max_limit)]
Cursor: TypeAlias = Annotated[str | None, Parameter(max_length=200)]
