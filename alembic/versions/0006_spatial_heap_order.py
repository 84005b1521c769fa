"""Providers kept in spatial order on disk.

A page of nearest providers is read from the heap row by row. In insertion order those rows
sit on as many pages as the page has rows; clustered by location they share a few. CLUSTER
needs an index over every row (the search index is partial). A btree over the geohash orders
rows along a Z-curve, so neighbours end up on the same pages. It's smaller than a second GiST
index, and the planner never picks it for a nearest-first search. This adds that index,
marks it as the table's clustering index, and leaves room in each page for updated rows to
stay put.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = [
    # Geohash cells of ~40 m; "C" collation compares the base-32 characters bytewise.
    "CREATE INDEX providers_spatial_order ON providers"
    ' ((ST_GeoHash(location::geometry, 8) COLLATE "C"))',
    "ALTER TABLE providers CLUSTER ON providers_spatial_order",
    # A profile edit writes a new row version; with room left on its page it stays there
    # (and near its neighbours) instead of moving to the end of the table.
    "ALTER TABLE providers SET (fillfactor = 90)",
]

DOWNGRADE = [
    "ALTER TABLE providers RESET (fillfactor)",
    "DROP INDEX providers_spatial_order",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
