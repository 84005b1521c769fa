"""One antimeridian: a stored longitude is never -180.

-180 and +180 are one meridian, but PostGIS's nearest-first GiST scan over geography fails
("index returned tuples in wrong order") when a point stored at one is searched from the
other. The API writes +180 for both; this moves any -180 already stored and makes the
database refuse it, for providers and route orders, the two tables searched nearest first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("providers", "route_orders")

UPGRADE = [
    statement
    for table in TABLES
    for statement in (
        f"UPDATE {table} SET longitude = 180 WHERE longitude = -180",
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_one_antimeridian CHECK (longitude <> -180)",
    )
]

DOWNGRADE = [f"ALTER TABLE {table} DROP CONSTRAINT {table}_one_antimeridian" for table in TABLES]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
