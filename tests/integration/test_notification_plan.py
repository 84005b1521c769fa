"""The notification queries read their indexes, among 100k notifications of 1,000 users."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.models import Notification
from db.notifications import notifications_statement
from geo.cursor import TimeKey
from tests.support.plans import explain, nodes

USERS = 1_000
NOTIFICATIONS = 100_000


@pytest.fixture(scope="module")
async def busy_user(engine: AsyncEngine) -> AsyncIterator[int]:
    """One of 1,000 users with 100 notifications each, a third of them unread."""
    async with engine.begin() as connection:
        users = (
            (
                await connection.execute(
                    text(
                        "INSERT INTO users (email, password_hash, role) SELECT"
                        " 'plan-' || n || '@example.invalid', '!', 'customer'"
                        " FROM generate_series(1, :users) n RETURNING id"
                    ),
                    {"users": USERS},
                )
            )
            .scalars()
            .all()
        )
        await connection.execute(
            text(
                "INSERT INTO notifications (user_id, kind, payload, is_read, created_at)"
                " SELECT (CAST(:ids AS bigint[]))[1 + n % :users], 'booking_requested',"
                " jsonb_build_object('booking_id', n), n % 3 <> 0,"
                " now() - n * interval '1 minute'"
                " FROM generate_series(1, :count) n"
            ),
            {"ids": list(users), "users": USERS, "count": NOTIFICATIONS},
        )
        await connection.execute(text("ANALYZE notifications"))
    yield int(users[0])
    async with engine.begin() as connection:  # notifications go with their users
        await connection.execute(
            text("DELETE FROM users WHERE id = ANY(CAST(:ids AS bigint[]))"), {"ids": list(users)}
        )


def assert_index_only_order(plan: dict[str, Any], index: str) -> None:
    kinds = {node["Node Type"] for node in nodes(plan)}
    assert not kinds & {"Seq Scan", "Sort", "Bitmap Heap Scan"}, kinds
    [scan] = [node for node in nodes(plan) if node["Node Type"] == "Index Scan"]
    assert scan["Index Name"] == index


@pytest.mark.parametrize(
    ("unread_only", "index"),
    [(False, "notifications_user_created_idx"), (True, "notifications_user_unread_idx")],
)
@pytest.mark.parametrize("with_cursor", [False, True])
async def test_listing_is_an_ordered_index_scan(
    db_session: AsyncSession, busy_user: int, unread_only: bool, index: str, with_cursor: bool
) -> None:
    after = None
    if with_cursor:
        newest = await db_session.scalar(notifications_statement(busy_user, unread_only, None, 1))
        assert newest is not None
        after = TimeKey(newest.created_at, newest.id)
    plan = await explain(db_session, notifications_statement(busy_user, unread_only, after, 21))
    assert_index_only_order(plan, index)
    assert plan["Actual Rows"] == 21


async def test_marking_all_read_finds_the_unread_by_index(
    db_session: AsyncSession, busy_user: int
) -> None:
    statement = (
        update(Notification)
        .where(Notification.user_id == busy_user, Notification.is_read.is_(False))
        .values(is_read=True)
    )
    plan = await explain(db_session, statement)
    [scan] = [node for node in nodes(plan) if "Index" in node["Node Type"]]
    assert scan["Index Name"] == "notifications_user_unread_idx"
