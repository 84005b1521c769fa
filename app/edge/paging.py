"""Keyset pages at the HTTP edge: a cursor in, the next page's cursor out.

Both are bound to the query's filters (the part of a query value that says what the pages
are pages of), so a cursor can't continue another query's list.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import msgspec
from litestar.di import Provide
from litestar.params import Parameter

from app.edge.parameters import Cursor
from app.settings import PageLimits
from db.pages import Page
from geo.cursor import CursorCodec

K = TypeVar("K", bound=msgspec.Struct)
T = TypeVar("T")


async def keyset_page(
    codec: CursorCodec,
    filters: msgspec.Struct,
    cursor: str | None,
    key_type: type[K],
    fetch: Callable[[K | None], Awaitable[Page[T]]],
    key_of: Callable[[T], K],
) -> tuple[list[T], str | None]:
    """The page after `cursor` (the first without one), and the next page's cursor or None.

    `fetch` reads the page after a key; `key_of` gives an item's key in the list's order.
    """
    after = codec.decode(cursor, filters, key_type) if cursor else None
    page = await fetch(after)
    following = codec.encode(key_of(page.items[-1]), filters) if page.has_more else None
    return page.items, following


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
