"""Revocable tokens: a version per account, and deleted accounts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    -- An access token carries the version its account had when it was issued; changing
    -- the password or deleting the account raises the version, and every older token
    -- stops working.
    ALTER TABLE users
        ADD COLUMN token_version integer NOT NULL DEFAULT 0 CHECK (token_version >= 0),
        ADD COLUMN deleted_at timestamptz
    """,
]

DOWNGRADE = [
    """
    ALTER TABLE users DROP COLUMN deleted_at, DROP COLUMN token_version
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
