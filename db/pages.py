"""Keyset pages: a query asks for one row more than it returns, to know that more follow."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool

    @classmethod
    def of(cls, rows: Sequence[T], limit: int) -> "Page[T]":
        """A page from up to `limit + 1` rows: the extra one only says that more follow."""
        return cls(list(rows[:limit]), has_more=len(rows) > limit)
