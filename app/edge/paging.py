"""The page parameters of a user's lists (their cursors: geo.cursor, bound to the list's
filters, so a cursor can't continue another query's list)."""

from typing import Annotated, TypeVar

import msgspec
from litestar.di import Provide
from litestar.params import Parameter

from app.edge.parameters import Cursor
from app.settings import PageLimits

K = TypeVar("K", bound=msgspec.Struct)
T = TypeVar("T")


class ListPage(msgspec.Struct, frozen=True):
    """The page fields of a user's list: how many items, and after which."""

    limit: int
    cursor: str | None


def list_page_dependency(pages: PageLimits) -> Provide:
    """The `limit` and `cursor` parameters of a user's lists, bounded by `pages`."""
    Limit = Annotated[int, Parameter(ge=1, le=pages.max_limit, description="items per page")]

    def list_page(limit: Limit = pages.default_limit, cursor: Cursor = None) -> ListPage:
        return ListPage(limit, cursor)

    return Provide(list_page, sync_to_thread=False)
