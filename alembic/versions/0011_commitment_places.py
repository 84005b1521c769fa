"""Every commitment happens at a place, and a provider's day can be locked.

A booking is a visit to the customer's stable (its latitude and longitude, or the provider's
own location for a visit at the clinic); a route visit is at its order's stable. Each
commitment keeps its place (the triggers of migration 0010 copy it), so that the travel
between consecutive commitments can be checked: a booking is accepted only if the provider
can drive from the previous commitment to it, and from it to the next, within the gaps.

The exclusion constraint cannot see travel. Two customers booking adjacent slots at stables
80 km apart at the same moment would each find the gap free. So a write that adds
commitments to a provider's day first locks that day's row in `provider_days` (made on
first use), and checks travel under the lock: writes to one provider's day take turns,
those to other days or providers never wait for each other.

Existing bookings take their provider's location, as does a new one that names no place.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    ALTER TABLE bookings
        ADD COLUMN latitude double precision CHECK (latitude BETWEEN -90 AND 90),
        ADD COLUMN longitude double precision CHECK (longitude > -180 AND longitude <= 180)
    """,
    """
    UPDATE bookings SET latitude = providers.latitude, longitude = providers.longitude
    FROM providers WHERE providers.id = bookings.provider_id
    """,
    """
    ALTER TABLE bookings ALTER COLUMN latitude SET NOT NULL,
        ALTER COLUMN longitude SET NOT NULL
    """,
    """
    -- A visit with no stable named is at the provider's own location (a clinic visit).
    CREATE FUNCTION booking_place() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.latitude IS NULL OR NEW.longitude IS NULL THEN
            SELECT latitude, longitude INTO NEW.latitude, NEW.longitude
            FROM providers WHERE id = NEW.provider_id;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER bookings_place BEFORE INSERT ON bookings
    FOR EACH ROW EXECUTE FUNCTION booking_place()
    """,
    """
    ALTER TABLE commitments
        ADD COLUMN latitude double precision,
        ADD COLUMN longitude double precision
    """,
    """
    UPDATE commitments SET latitude = bookings.latitude, longitude = bookings.longitude
    FROM bookings WHERE bookings.id = commitments.booking_id
    """,
    """
    UPDATE commitments SET latitude = route_orders.latitude, longitude = route_orders.longitude
    FROM route_stops JOIN route_orders ON route_orders.id = route_stops.route_order_id
    WHERE route_stops.id = commitments.route_stop_id
    """,
    """
    ALTER TABLE commitments ALTER COLUMN latitude SET NOT NULL,
        ALTER COLUMN longitude SET NOT NULL
    """,
    """
    -- Active commitments of a provider in time order: a day's, and a commitment's
    -- neighbours, found without a scan.
    CREATE INDEX commitments_provider_time_idx ON commitments (provider_id, lower(during))
        WHERE active
    """,
    """
    CREATE OR REPLACE FUNCTION booking_commitment() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO commitments
                (provider_id, kind, booking_id, during, active, latitude, longitude)
            VALUES (NEW.provider_id, 'booking', NEW.id, NEW.during,
                    NEW.status IN ('pending', 'confirmed'), NEW.latitude, NEW.longitude);
        ELSE
            UPDATE commitments
            SET provider_id = NEW.provider_id, during = NEW.during,
                active = NEW.status IN ('pending', 'confirmed'),
                latitude = NEW.latitude, longitude = NEW.longitude
            WHERE booking_id = NEW.id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    DROP TRIGGER bookings_commitment ON bookings
    """,
    """
    CREATE TRIGGER bookings_commitment
    AFTER INSERT OR UPDATE OF provider_id, during, status, latitude, longitude ON bookings
    FOR EACH ROW EXECUTE FUNCTION booking_commitment()
    """,
    """
    CREATE OR REPLACE FUNCTION visit_commitment() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        visit tstzrange := tstzrange(NEW.eta, NEW.eta + make_interval(mins => NEW.service_minutes));
        holds boolean := NEW.status = 'planned' AND NEW.route_status = 'planned';
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO commitments
                (provider_id, kind, route_stop_id, during, active, latitude, longitude)
            SELECT routes.provider_id, 'visit', NEW.id, visit, holds,
                route_orders.latitude, route_orders.longitude
            FROM routes, route_orders
            WHERE routes.id = NEW.route_id AND route_orders.id = NEW.route_order_id;
        ELSE
            UPDATE commitments SET during = visit, active = holds WHERE route_stop_id = NEW.id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TABLE provider_days (
        provider_id bigint NOT NULL REFERENCES providers (id),
        day         date NOT NULL,
        PRIMARY KEY (provider_id, day)
    )
    """,
]

DOWNGRADE = [
    """
    DROP TABLE provider_days
    """,
    """
    CREATE OR REPLACE FUNCTION visit_commitment() RETURNS trigger LANGUAGE plpgsql AS $$
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
    DROP TRIGGER bookings_commitment ON bookings
    """,
    """
    CREATE OR REPLACE FUNCTION booking_commitment() RETURNS trigger LANGUAGE plpgsql AS $$
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
    DROP INDEX commitments_provider_time_idx
    """,
    """
    DROP TRIGGER bookings_place ON bookings
    """,
    """
    DROP FUNCTION booking_place()
    """,
    """
    ALTER TABLE commitments DROP COLUMN latitude, DROP COLUMN longitude
    """,
    """
    ALTER TABLE bookings DROP COLUMN latitude, DROP COLUMN longitude
    """,
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
