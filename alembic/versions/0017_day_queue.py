"""A provider's day is a queue: `lock_provider_day` waits for it as long as a statement
may run, not just the lock timeout.

The lock timeout (DB_LOCK_TIMEOUT_MS) is there for a row a stuck transaction holds. The
day's row is held only by writes of that day (bookings, route plans, insertions), each
for the milliseconds of its travel check, so a burst of them is a queue that moves: the
tenth writer waits for nine short holds, which on a busy machine is more than the lock
timeout. It waits its turn instead of a 503, bounded by the statement timeout (a stuck
holder is ended by the idle-in-transaction timeout). Only that wait is longer: the
provider's row, which the day's row refers to, is locked first under the caller's lock
timeout (a provider's row held by a stuck transaction is still a fast 503), and the
caller's lock timeout is restored for the rest of its transaction.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION lock_provider_day(provider bigint, on_day date) RETURNS void
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            lock_wait text := current_setting('lock_timeout');
        BEGIN
            PERFORM FROM providers WHERE id = provider FOR KEY SHARE;
            PERFORM set_config('lock_timeout', current_setting('statement_timeout'), true);
            INSERT INTO provider_days (provider_id, day) VALUES (provider, on_day)
            ON CONFLICT (provider_id, day) DO UPDATE SET day = excluded.day;
            PERFORM set_config('lock_timeout', lock_wait, true);
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION lock_provider_day(bigint, date)")
