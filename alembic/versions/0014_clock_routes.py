"""Routes keep the clock: where a day ends, when its break is, and each provider's break.

A route ends at `end_latitude`/`end_longitude` (both null: an open day, ending at its last
visit), `end_distance_m` from the last visit, at `finish`; its break starts at
`break_start` and lasts `break_minutes` (null: none taken). A provider's `break_minutes`
(0: none) and window `break_from`-`break_until` replace the deployment's; all null: the
deployment's.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    ALTER TABLE routes
        ADD COLUMN end_latitude double precision,
        ADD COLUMN end_longitude double precision,
        ADD COLUMN end_distance_m double precision NOT NULL DEFAULT 0,
        ADD COLUMN finish timestamptz,
        ADD COLUMN break_start timestamptz,
        ADD COLUMN break_minutes smallint,
        ADD CONSTRAINT routes_end_whole
            CHECK ((end_latitude IS NULL) = (end_longitude IS NULL)),
        ADD CONSTRAINT routes_break_whole
            CHECK ((break_start IS NULL) = (break_minutes IS NULL))
    """,
    """
    ALTER TABLE providers
        ADD COLUMN break_minutes smallint
            CONSTRAINT providers_break_minutes CHECK (break_minutes BETWEEN 0 AND 240),
        ADD COLUMN break_from time,
        ADD COLUMN break_until time,
        ADD CONSTRAINT providers_break_window CHECK (
            (break_minutes IS NULL) = (break_from IS NULL)
            AND (break_from IS NULL) = (break_until IS NULL)
            AND (break_from IS NULL OR break_from < break_until)
        )
    """,
]

DOWNGRADE = [
    """
    ALTER TABLE providers
        DROP CONSTRAINT providers_break_window,
        DROP COLUMN break_until,
        DROP COLUMN break_from,
        DROP COLUMN break_minutes
    """,
    """
    ALTER TABLE routes
        DROP CONSTRAINT routes_break_whole,
        DROP CONSTRAINT routes_end_whole,
        DROP COLUMN break_minutes,
        DROP COLUMN break_start,
        DROP COLUMN finish,
        DROP COLUMN end_distance_m,
        DROP COLUMN end_longitude,
        DROP COLUMN end_latitude
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
