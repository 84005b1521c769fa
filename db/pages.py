"""Keyset pages: a query asks for one row more than it returns, to know that more follow."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from geo.cursor import TimeKey

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool

    @classmethod
    def of(cls, rows: Sequence[T], limit: int) -> "Page[T]":
        """A page from up to `limit + 1` rows: the extra one only says that more follow."""
        return cls(list(rows[:limit]), has_more=len(rows) > limit)

    def last_key(self, key_of: Callable[[T], K]) -> K | None:
        """The key of its last item when more follow (the next page starts after it)."""
        return key_of(self.items[-1]) if self.has_more else None


def newest_first(
    statement: Select[T],
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[int],
    after: TimeKey | None,
    limit: int,
) -> Select[T]:
    """A user's list, newest first, then by id; `after` is the last item of the previous
    page. The list's index is on (owner, created_at DESC, id DESC)."""
    if after is not None:
        statement = statement.where(
            tuple_(created_at, row_id) < tuple_(literal(after.at), literal(after.id))
        )
    return statement.order_by(created_at.desc(), row_id.desc()).limit(limit)
