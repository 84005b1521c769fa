"""Work that outlives a request: the outbox, account tokens, exports, calendar feeds.

- `outbox`: a job to run once the transaction that wrote it commits. The API never puts
  work on the queue itself; the worker's relay moves committed rows onto it (app.jobs), so
  a rolled-back booking sends no e-mail and a committed one cannot lose its. A row is done
  when its job has finished, failed (a dead letter, kept with its error) when its last
  attempt has.
- Notifications are copied to the outbox as e-mails by a trigger, for users who want them
  (`users.email_notifications`) and have shown the address is theirs: every writer of a
  notification gets it, in its own transaction, with no round trip more.
- `account_tokens`: single-use, expiring tokens (password reset, e-mail verification),
  kept as SHA-256 hashes only. The tokens themselves are derived from the server's secret
  (db.account_tokens), so a retried mail job mails the same token.
- `users.email_verified_at`: accounts made before this are taken as verified (they were
  accepted without the step); new ones are not until they prove the address.
- `exports`: a user's export and its progress; its file lives in EXPORT_DIR until
  `expires_at`.
- `calendar_feeds`: a user's personal, revocable iCalendar feed URL, its token hashed.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    ALTER TABLE users
        ADD COLUMN email_verified_at timestamptz,
        ADD COLUMN language text NOT NULL DEFAULT 'sv' CHECK (language IN ('sv', 'en')),
        ADD COLUMN email_notifications boolean NOT NULL DEFAULT true
    """,
    "UPDATE users SET email_verified_at = created_at",
    """
    CREATE TABLE outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job text NOT NULL,
        payload jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        enqueued_at timestamptz,
        done_at timestamptz,
        failed_at timestamptz,
        attempts smallint NOT NULL DEFAULT 0,
        error text
    )
    """,
    # The relay's scan: rows not yet on the queue, oldest first.
    "CREATE INDEX outbox_waiting ON outbox (id) WHERE enqueued_at IS NULL",
    "CREATE INDEX outbox_dead ON outbox (failed_at) WHERE failed_at IS NOT NULL",
    """
    CREATE FUNCTION notification_mail() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO outbox (job, payload)
        SELECT 'send_mail', jsonb_build_object(
            'template', NEW.kind, 'user_id', NEW.user_id, 'data', NEW.payload)
        FROM users
        WHERE id = NEW.user_id AND email_notifications
            AND email_verified_at IS NOT NULL AND deleted_at IS NULL;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER notifications_mail AFTER INSERT OR UPDATE OF kind, payload
        ON notifications FOR EACH ROW EXECUTE FUNCTION notification_mail()
    """,
    """
    CREATE TABLE account_tokens (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        purpose text NOT NULL CHECK (purpose IN ('password_reset', 'verify_email')),
        token_hash bytea NOT NULL UNIQUE,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose)",
    "CREATE TYPE export_status AS ENUM ('queued', 'running', 'done', 'failed', 'expired')",
    """
    CREATE TABLE exports (
        id uuid PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('bookings', 'route_orders', 'routes')),
        format text NOT NULL CHECK (format IN ('csv', 'json', 'ics', 'gpx')),
        from_date date,
        to_date date,
        excel_bom boolean NOT NULL DEFAULT false,
        status export_status NOT NULL DEFAULT 'queued',
        progress real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
        rows integer,
        size_bytes bigint,
        attempts smallint NOT NULL DEFAULT 0,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        expires_at timestamptz
    )
    """,
    # A user's exports under way (the cap of running ones), and the files to expire.
    "CREATE INDEX exports_user ON exports (user_id, created_at DESC)",
    "CREATE INDEX exports_expiring ON exports (expires_at) WHERE status = 'done'",
    """
    CREATE TABLE calendar_feeds (
        user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        token_hash bytea NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]

DOWNGRADE = [
    "DROP TABLE calendar_feeds",
    "DROP TABLE exports",
    "DROP TYPE export_status",
    "DROP TABLE account_tokens",
    "DROP TRIGGER notifications_mail ON notifications",
    "DROP FUNCTION notification_mail()",
    "DROP TABLE outbox",
    """
    ALTER TABLE users
        DROP COLUMN email_notifications,
        DROP COLUMN language,
        DROP COLUMN email_verified_at
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
