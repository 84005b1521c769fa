"""One timeline per provider: bookings and route visits under one exclusion constraint.

A provider's time was held in two places that knew nothing of each other: bookings under
their own exclusion constraint, route stops with an arrival and a length but no range. A
customer could book a farrier into a visit the farrier's route already planned. Now every
commitment that takes a provider's time is a row of `commitments` (a booking, or a visit
of a route: arrival to arrival plus its service minutes), and one partial exclusion
constraint over it holds while the commitment is active (a pending or confirmed booking;
a planned visit of a planned route). Triggers on bookings and route_stops keep each one's
commitment in the writing transaction, so no code path can store a booking or a stop
without its time, and the constraint, not the application, refuses an overlap (23P01).

The constraint is DEFERRABLE INITIALLY IMMEDIATE: a re-planned route moves its visits one
row at a time, and may pass through overlaps between its own visits; it defers the check
for those statements and asks for it again before it returns.

Existing bookings and planned visits get their commitments here. A planned visit that
already overlaps an active booking or another visit of its provider stops the migration
with the first such pair named: the old model allowed exactly that double booking, and
which of the two should give way is the provider's decision, not a migration's.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE TYPE commitment_kind AS ENUM ('booking', 'visit')
    """,
    """
    CREATE TABLE commitments (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        provider_id   bigint NOT NULL REFERENCES providers (id),
        kind          commitment_kind NOT NULL,
        booking_id    bigint UNIQUE REFERENCES bookings (id) ON DELETE CASCADE,
        route_stop_id bigint UNIQUE REFERENCES route_stops (id) ON DELETE CASCADE,
        during        tstzrange NOT NULL,
        active        boolean NOT NULL,
        CONSTRAINT commitments_one_owner CHECK (
            (kind = 'booking' AND booking_id IS NOT NULL AND route_stop_id IS NULL)
            OR (kind = 'visit' AND route_stop_id IS NOT NULL AND booking_id IS NULL)
        ),
        CONSTRAINT commitments_during_half_open CHECK (
            NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)
            AND lower_inc(during) AND NOT upper_inc(during)
        ),
        -- The double-booking guarantee, for bookings and visits alike: two transactions
        -- committing overlapping active commitments of one provider cannot both commit;
        -- the second waits for the first and fails with SQLSTATE 23P01.
        CONSTRAINT commitments_no_overlap EXCLUDE USING gist (
            provider_id WITH =,
            during WITH &&
        ) WHERE (active) DEFERRABLE INITIALLY IMMEDIATE
    )
    """,
    """
    CREATE FUNCTION booking_commitment() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO commitments (provider_id, kind, booking_id, during, active)
            VALUES (NEW.provider_id, 'booking', NEW.id, NEW.during,
                    NEW.status IN ('pending', 'confirmed'));
        ELSE
            UPDATE commitments
            SET provider_id = NEW.provider_id, during = NEW.during,
                active = NEW.status IN ('pending', 'confirmed')
            WHERE booking_id = NEW.id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER bookings_commitment
    AFTER INSERT OR UPDATE OF provider_id, during, status ON bookings
    FOR EACH ROW EXECUTE FUNCTION booking_commitment()
    """,
    """
    CREATE FUNCTION visit_commitment() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        visit tstzrange := tstzrange(NEW.eta, NEW.eta + make_interval(mins => NEW.service_minutes));
        holds boolean := NEW.status = 'planned' AND NEW.route_status = 'planned';
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO commitments (provider_id, kind, route_stop_id, during, active)
            SELECT routes.provider_id, 'visit', NEW.id, visit, holds
            FROM routes WHERE routes.id = NEW.route_id;
        ELSE
            UPDATE commitments SET during = visit, active = holds WHERE route_stop_id = NEW.id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    -- Cancelling a route cascades its status into its stops (migration 0004), which
    -- fires this too.
    CREATE TRIGGER route_stops_commitment
    AFTER INSERT OR UPDATE OF eta, service_minutes, status, route_status ON route_stops
    FOR EACH ROW EXECUTE FUNCTION visit_commitment()
    """,
    """
    INSERT INTO commitments (provider_id, kind, booking_id, during, active)
    SELECT provider_id, 'booking', id, during, status IN ('pending', 'confirmed')
    FROM bookings ORDER BY id
    """,
    """
    DO $$
    DECLARE
        clash record;
    BEGIN
        SELECT stop.id AS stop_id, routes.provider_id, other.kind, other.during
        INTO clash
        FROM route_stops stop
        JOIN routes ON routes.id = stop.route_id
        JOIN commitments other ON other.provider_id = routes.provider_id AND other.active
            AND other.during && tstzrange(stop.eta,
                stop.eta + make_interval(mins => stop.service_minutes))
        WHERE stop.status = 'planned' AND stop.route_status = 'planned'
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'route stop % of provider % overlaps an active % at %: resolve '
                'it (cancel one of them) before this migration', clash.stop_id,
                clash.provider_id, clash.kind, clash.during;
        END IF;
    END
    $$
    """,
    """
    INSERT INTO commitments (provider_id, kind, route_stop_id, during, active)
    SELECT routes.provider_id, 'visit', stop.id,
        tstzrange(stop.eta, stop.eta + make_interval(mins => stop.service_minutes)),
        stop.status = 'planned' AND stop.route_status = 'planned'
    FROM route_stops stop JOIN routes ON routes.id = stop.route_id
    ORDER BY stop.eta
    """,
    """
    ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap
    """,
]

DOWNGRADE = [
    """
    ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
        provider_id WITH =,
        during WITH &&
    ) WHERE (status IN ('pending', 'confirmed'))
    """,
    """
    DROP TRIGGER route_stops_commitment ON route_stops
    """,
    """
    DROP FUNCTION visit_commitment()
    """,
    """
    DROP TRIGGER bookings_commitment ON bookings
    """,
    """
    DROP FUNCTION booking_commitment()
    """,
    """
    DROP TABLE commitments
    """,
    """
    DROP TYPE commitment_kind
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
