"""Emails that look alike: one live account per look.

`alice@example.com` with a Cyrillic a, or with a 1 for the l, displays as Alice's address
and was a new account. Each live account now keeps its email's skeleton (Unicode's
confusables mapped to one character per family, db.accounts.email_skeleton), unique, so
registration refuses a look-alike of an existing address. Deleted accounts keep none.

Existing accounts get theirs here; where two already look alike, the older keeps it (the
younger can still sign in, but nobody else can take that look).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from db.accounts import email_skeleton

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE users ADD COLUMN email_skeleton text")
    connection = op.get_bind()
    live = connection.execute(
        sa.text("SELECT id, email FROM users WHERE deleted_at IS NULL ORDER BY id")
    )
    claimed: dict[str, int] = {}
    for user_id, email in live:
        claimed.setdefault(email_skeleton(email), user_id)
    if claimed:
        connection.execute(
            sa.text("UPDATE users SET email_skeleton = :skeleton WHERE id = :id"),
            [{"skeleton": skeleton, "id": user_id} for skeleton, user_id in claimed.items()],
        )
    op.execute("CREATE UNIQUE INDEX users_email_skeleton_key ON users (email_skeleton)")


def downgrade() -> None:
    op.execute("DROP INDEX users_email_skeleton_key")
    op.execute("ALTER TABLE users DROP COLUMN email_skeleton")
