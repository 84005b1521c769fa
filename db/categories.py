"""The category filter every provider search shares (nearby, in view, clusters, tiles): a
provider offers a category when its `categories` (kept by the database from its active
services) hold it, a cheap check on each row a scan returns."""

from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Text, bindparam

from db.models import Provider


def category_filters(by_category: bool) -> list[ColumnElement[bool]]:
    wanted = bindparam("categories", type_=ARRAY(Text))
    return [Provider.categories.contains(wanted)] if by_category else []


def category_values(category: str | None) -> dict[str, Any]:
    return {} if category is None else {"categories": [category]}
