"""A provider's free time, computed where the calendar is.

`provider_slots` lists the starts at which a visit of a given length could be booked:
on the step grid, inside one opening interval of its local date (the exception of the
date, else the weekly hours; DST-correct, as each interval's wall-clock ends become
instants of that date), clear of every active commitment widened by the drive between
its place and the visit's, after `not_before` and not after `not_after`. It is what a
booking checks, said as ranges: a slot it offers is bookable. `first_free_slot` is the
earliest of them for a category: the first slot of its shortest active service (a start
free for a longer visit is free for a shorter one), looked for a day at a time, so that
free-near-me, which asks it of each provider its nearest-first index scan reaches, reckons
one day of most providers' calendars.

`drive_time` is the great-circle drive at a speed, rounded up to the second, bit for bit
the Python `Travel.drives` (db.routes): the same haversine on the same sphere.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE FUNCTION drive_time(
        from_lat float8, from_lng float8, to_lat float8, to_lng float8, speed_kmh float8
    ) RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT make_interval(secs => ceil(
            2 * 6371008.7714150598::float8 * asin(least(1.0, sqrt(
                power(sin((radians(to_lat) - radians(from_lat)) / 2), 2)
                + cos(radians(from_lat)) * cos(radians(to_lat))
                  * power(sin(radians(to_lng - from_lng) / 2), 2)
            ))) / 1000 / speed_kmh * 3600
        ))
    $$
    """,
    """
    CREATE FUNCTION provider_slots(
        provider bigint, minutes integer, first_day date, last_day date,
        at_lat float8, at_lng float8, not_before timestamptz, not_after timestamptz,
        step_minutes integer, speed_kmh float8
    ) RETURNS TABLE (slot_start timestamptz, slot_end timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        WITH visitor AS (
            -- No place named: the visit is at the provider's own location.
            SELECT timezone, coalesce(at_lat, latitude) AS lat, coalesce(at_lng, longitude) AS lng
            FROM providers WHERE id = provider AND is_active
        ),
        days AS (
            SELECT first_day + n AS day FROM generate_series(0, last_day - first_day) AS n
        ),
        opening AS (
            SELECT tstzrange((day + opens) AT TIME ZONE timezone,
                             (day + closes) AT TIME ZONE timezone) AS hours
            FROM visitor, days, LATERAL (
                SELECT e.opens, e.closes FROM availability_exceptions e
                WHERE e.provider_id = provider AND e.date = day AND e.opens IS NOT NULL
                UNION ALL
                SELECT a.opens, a.closes FROM availability a
                WHERE a.provider_id = provider AND a.weekday = extract(isodow FROM day) - 1
                  AND NOT EXISTS (SELECT FROM availability_exceptions e
                                  WHERE e.provider_id = provider AND e.date = day)
            ) AS intervals
        ),
        taken AS (
            SELECT coalesce(range_agg(tstzrange(
                lower(c.during) - drive_time(lat, lng, c.latitude, c.longitude, speed_kmh),
                upper(c.during) + drive_time(c.latitude, c.longitude, lat, lng, speed_kmh)
            )), '{}') AS ranges
            FROM visitor, commitments c
            WHERE c.provider_id = provider AND c.active
              AND c.during && tstzrange((first_day - 1)::timestamp AT TIME ZONE timezone,
                                        (last_day + 2)::timestamp AT TIME ZONE timezone)
        ),
        free AS (
            -- Each opening interval on its own: a visit must fit in one (touching
            -- intervals are not merged).
            SELECT unnest(multirange(hours) - ranges) AS span FROM opening, taken
        )
        SELECT start, start + make_interval(mins => minutes)
        FROM free, LATERAL generate_series(
            date_bin(make_interval(mins => step_minutes),
                     lower(span) + make_interval(mins => step_minutes) - interval '1 microsecond',
                     timestamptz '2000-01-01 00:00+00'),
            upper(span) - make_interval(mins => minutes),
            make_interval(mins => step_minutes)
        ) AS start
        WHERE start >= not_before AND start <= not_after
        ORDER BY start
    $$
    """,
    """
    CREATE FUNCTION first_free_slot(
        provider bigint, category text, first_day date, last_day date,
        at_lat float8, at_lng float8, not_before timestamptz, not_after timestamptz,
        step_minutes integer, speed_kmh float8
    ) RETURNS TABLE (service_id bigint, slot_start timestamptz, slot_end timestamptz)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    -- One plan for the day's query, made on the first call: planning it anew for each
    -- provider and day (PL/pgSQL's custom plans) would cost more than running it.
    SET plan_cache_mode = force_generic_plan
    AS $$
    DECLARE
        shortest record;
    BEGIN
        SELECT s.id, s.duration_minutes INTO shortest FROM services s
        WHERE s.provider_id = provider AND s.is_active
          AND (first_free_slot.category IS NULL OR s.category = first_free_slot.category)
        ORDER BY s.duration_minutes, s.id
        LIMIT 1;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        -- Day by day: most providers are free on one of the first, and the days after
        -- it are never reckoned.
        FOR day IN 0 .. last_day - first_day LOOP
            RETURN QUERY
                SELECT shortest.id, free.slot_start, free.slot_end
                FROM provider_slots(provider, shortest.duration_minutes, first_day + day,
                                    first_day + day, at_lat, at_lng, not_before, not_after,
                                    step_minutes, speed_kmh) AS free
                LIMIT 1;
            IF FOUND THEN
                RETURN;
            END IF;
        END LOOP;
    END
    $$
    """,
]

DOWNGRADE = [
    "DROP FUNCTION first_free_slot",
    "DROP FUNCTION provider_slots",
    "DROP FUNCTION drive_time",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
