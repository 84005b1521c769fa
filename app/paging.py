"""Keyset paging at the HTTP edge: a cursor in, the next page's cursor out."""

from collections.abc import Callable
from typing import TypeVar

import msgspec

from db.pages import Page
from geo.cursor import CursorCodec

K = TypeVar("K", bound=msgspec.Struct)
T = TypeVar("T")


def start_after(codec: CursorCodec, cursor: str | None, scope: str, key_type: type[K]) -> K | None:
    """The key the requested page starts after, or None for the first page."""
    return codec.decode(cursor, scope, key_type) if cursor else None


def next_cursor(
    codec: CursorCodec, page: Page[T], scope: str, key: Callable[[T], msgspec.Struct]
) -> str | None:
    """A cursor for the page after `page`, or None if it was the last."""
    return codec.encode(key(page.items[-1]), scope) if page.has_more else None
