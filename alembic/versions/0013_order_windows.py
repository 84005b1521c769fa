"""A route order says when the stable can be visited and for how many horses.

`arrive_after`/`arrive_before` bound the arrival on the provider's clock (local times; either
may be absent), and `horses` (1-20) multiplies the planning provider's service length.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    ALTER TABLE route_orders
        ADD COLUMN arrive_after time,
        ADD COLUMN arrive_before time,
        ADD COLUMN horses smallint NOT NULL DEFAULT 1
            CONSTRAINT route_orders_horses CHECK (horses BETWEEN 1 AND 20),
        ADD CONSTRAINT route_orders_arrival_window
            CHECK (arrive_after IS NULL OR arrive_before IS NULL OR arrive_after < arrive_before)
    """,
]

DOWNGRADE = [
    """
    ALTER TABLE route_orders
        DROP CONSTRAINT route_orders_arrival_window,
        DROP COLUMN horses,
        DROP COLUMN arrive_before,
        DROP COLUMN arrive_after
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
