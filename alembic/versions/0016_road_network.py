"""A road network to route on: OpenStreetMap ways as a pgRouting graph (db.roads loads it).

- `road_network`: the one loaded network, if any: where it came from, its extent, how
  big it is, and the two figures that turn a point beside it into road travel. Its
  `version` grows with every load; what was reckoned on an older one is gone with it.
- `road_vertices`: the graph's junctions and ends. `routable` marks those of the largest
  strongly connected part: a point snaps only to one of those, from which every other is
  reachable and back, so no leg ends in a one-way trap or on an island of service roads.
- `road_edges`: directed both ways unless one-way; a cost below zero is pgRouting's "no
  way this direction". Seconds from the road class and `maxspeed`; metres on the sphere
  the great circle is measured on, so a road leg is never shorter than its straight line.
- `road_costs`: shortest drives already reckoned between two vertices, one way. Only ever
  added to (a pair is kept as first reckoned) and emptied when the network is reloaded.
- `road_paths(sources, targets)`: the drives between vertices, on the part of the graph
  inside the vertices' box widened by a margin (`road_edges_near`: a query never reads
  the whole country), seconds and the metres of that fastest path; `road_lines` the
  streets of given legs, on the same part of the graph.

- `road_snap(lat, lng)`: the nearest routable vertex on the sphere, if within the
  network's `snap_max_m`, and whether the place lies in the network's extent.
- `travel_seconds(…, speed_kmh, on_roads)`: one drive as the calendar reckons it, on the
  roads when asked and a network is loaded (the road matrix's rules, db.roads.matrix:
  the kept drive, else `road_paths` for the pair; a place off the network is the great
  circle, stretched by the detour factor near the network), else the great circle.
  `provider_slots` and `first_free_slot` take `on_roads` and widen each commitment by
  it: the booking's check reckons the same drives (a slot offered is still bookable).
- `routes.travel`, `route_stops.leg_travel`: what measured a route's legs, `roads` or
  `great_circle` (a place off the network), and `leg_seconds`, each leg's drive.

pgRouting itself is created here when the server has it; a deployment without it migrates
all the same and routes by great circle (the loader says what is missing).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    DO $$ BEGIN
        IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgrouting') THEN
            CREATE EXTENSION IF NOT EXISTS pgrouting;
        END IF;
    END $$
    """,
    """
    CREATE TABLE road_network (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        version bigint NOT NULL,
        source text NOT NULL,
        loaded_at timestamptz NOT NULL DEFAULT now(),
        extent geometry(Polygon, 4326) NOT NULL,
        vertices integer NOT NULL,
        edges integer NOT NULL,
        snap_max_m float8 NOT NULL CHECK (snap_max_m > 0),
        snap_speed_kmh float8 NOT NULL CHECK (snap_speed_kmh > 0),
        detour_factor float8 NOT NULL CHECK (detour_factor >= 1)
    )
    """,
    """
    CREATE TABLE road_vertices (
        id bigint PRIMARY KEY,
        geom geometry(Point, 4326) NOT NULL,
        routable boolean NOT NULL
    )
    """,
    # Snapping: the nearest routable vertex in degrees, by KNN, then the nearest on the
    # sphere inside the box that distance spans (db.roads.matrix).
    "CREATE INDEX road_vertices_routable ON road_vertices USING gist (geom) WHERE routable",
    """
    CREATE TABLE road_edges (
        id bigint PRIMARY KEY,
        source bigint NOT NULL,
        target bigint NOT NULL,
        cost_s float8 NOT NULL,
        reverse_cost_s float8 NOT NULL,
        length_m float8 NOT NULL CHECK (length_m >= 0),
        geom geometry(LineString, 4326) NOT NULL
    )
    """,
    # A query's part of the graph: the edges in a box.
    "CREATE INDEX road_edges_geom ON road_edges USING gist (geom)",
    """
    CREATE TABLE road_costs (
        source bigint NOT NULL,
        target bigint NOT NULL,
        seconds float8 NOT NULL,
        metres float8 NOT NULL,
        PRIMARY KEY (source, target)
    )
    """,
    """
    ALTER TABLE routes ADD COLUMN travel text NOT NULL DEFAULT 'great_circle'
        CHECK (travel IN ('roads', 'great_circle'))
    """,
    """
    ALTER TABLE route_stops
        ADD COLUMN leg_seconds integer CHECK (leg_seconds >= 0),
        ADD COLUMN leg_travel text NOT NULL DEFAULT 'great_circle'
            CHECK (leg_travel IN ('roads', 'great_circle'))
    """,
    """
    CREATE FUNCTION road_edges_near(vertices bigint[]) RETURNS text
    LANGUAGE sql STABLE AS $$
        -- The edges SQL for pgRouting: those in the vertices' box widened by a quarter of
        -- its larger side, and at least about 2 km (room for the detours a straight box
        -- would cut off: a bridge, a ring road).
        SELECT format('SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost'
                      ' FROM road_edges WHERE geom && %L::geometry',
                      ST_Expand(box, greatest(0.02, 0.25 * greatest(width, height))))
        FROM (SELECT box, ST_XMax(box) - ST_XMin(box) AS width,
                     ST_YMax(box) - ST_YMin(box) AS height
              FROM (SELECT ST_Envelope(ST_Collect(geom)) AS box
                    FROM road_vertices WHERE id = ANY(vertices)) AS envelope) AS area
        WHERE box IS NOT NULL
    $$
    """,
    """
    CREATE FUNCTION road_paths(sources bigint[], targets bigint[])
    RETURNS TABLE (source bigint, target bigint, seconds float8, metres float8)
    LANGUAGE sql STABLE AS $$
        SELECT p.start_vid, p.end_vid, sum(p.cost), sum(e.length_m)
        FROM pgr_dijkstra(road_edges_near(sources || targets), sources, targets, true) AS p
        JOIN road_edges e ON e.id = p.edge
        GROUP BY p.start_vid, p.end_vid
    $$
    """,
    # Each leg's street line, its edges turned the way they are driven.
    """
    CREATE FUNCTION road_lines(sources bigint[], targets bigint[])
    RETURNS TABLE (source bigint, target bigint, line geometry)
    LANGUAGE sql STABLE AS $$
        SELECT p.start_vid, p.end_vid,
               ST_MakeLine(CASE WHEN p.node = e.source THEN e.geom ELSE ST_Reverse(e.geom) END
                           ORDER BY p.path_seq)
        FROM pgr_dijkstra(
            road_edges_near(sources || targets),
            format('SELECT unnest(%L::bigint[]) AS source, unnest(%L::bigint[]) AS target',
                   sources, targets),
            true
        ) AS p
        JOIN road_edges e ON e.id = p.edge
        GROUP BY p.start_vid, p.end_vid
    $$
    """,
    """
    CREATE FUNCTION road_snap(lat float8, lng float8,
                              OUT vertex bigint, OUT metres float8, OUT inside boolean)
    LANGUAGE plpgsql STABLE AS $$
    DECLARE
        place geometry := ST_SetSRID(ST_MakePoint(lng, lat), 4326);
        network road_network;
        reach float8;
    BEGIN
        SELECT * INTO network FROM road_network;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        inside := ST_Intersects(network.extent, place);
        metres := 0;
        -- The nearest in degrees (an index KNN) is `reach` away on the sphere; the nearest
        -- on the sphere lies in the box of points that near, which the index reads too.
        SELECT degrees(ST_Distance(r.geom::geography, place::geography, false)
                       / 6371008.7714150598)
        INTO reach
        FROM road_vertices r WHERE r.routable ORDER BY r.geom <-> place LIMIT 1;
        SELECT r.id, ST_Distance(r.geom::geography, place::geography, false)
        INTO vertex, metres
        FROM road_vertices r
        WHERE r.routable
          AND r.geom && ST_Expand(
              place, reach / greatest(cos(radians(least(89.9, abs(lat) + reach))), 0.001), reach)
        ORDER BY 2, 1
        LIMIT 1;
        IF vertex IS NULL OR metres > network.snap_max_m THEN
            vertex := NULL;
            metres := 0;
        END IF;
    END
    $$
    """,
    """
    CREATE FUNCTION great_circle_m(from_lat float8, from_lng float8, to_lat float8, to_lng float8)
    RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT 2 * 6371008.7714150598::float8 * asin(least(1.0, sqrt(
            power(sin((radians(to_lat) - radians(from_lat)) / 2), 2)
            + cos(radians(from_lat)) * cos(radians(to_lat))
              * power(sin(radians(to_lng - from_lng) / 2), 2)
        )))
    $$
    """,
    # Term for term the sums of db.roads.matrix and geo.travel, so that both round alike.
    """
    CREATE FUNCTION travel_seconds(from_lat float8, from_lng float8, to_lat float8,
                                   to_lng float8, speed_kmh float8, on_roads boolean)
    RETURNS float8 LANGUAGE plpgsql STABLE AS $$
    DECLARE
        network road_network;
        a record;
        b record;
        road float8;
        factor float8 := 1;
    BEGIN
        IF from_lat = to_lat AND from_lng = to_lng THEN
            RETURN 0;
        END IF;
        IF on_roads THEN
            SELECT * INTO network FROM road_network;
        END IF;
        IF network.version IS NOT NULL THEN
            a := road_snap(from_lat, from_lng);
            b := road_snap(to_lat, to_lng);
            IF a.vertex = b.vertex THEN
                road := 0;
            ELSIF a.vertex IS NOT NULL AND b.vertex IS NOT NULL THEN
                SELECT c.seconds INTO road FROM road_costs c
                WHERE c.source = a.vertex AND c.target = b.vertex;
                IF road IS NULL THEN
                    SELECT p.seconds INTO road
                    FROM road_paths(ARRAY[a.vertex, b.vertex], ARRAY[a.vertex, b.vertex]) AS p
                    WHERE p.source = a.vertex AND p.target = b.vertex;
                END IF;
            END IF;
            IF road IS NOT NULL THEN
                RETURN a.metres / 1000 / network.snap_speed_kmh * 3600 + road
                       + b.metres / 1000 / network.snap_speed_kmh * 3600;
            END IF;
            IF a.inside OR b.inside THEN
                factor := network.detour_factor;
            END IF;
        END IF;
        RETURN great_circle_m(from_lat, from_lng, to_lat, to_lng) * factor
               / 1000 / speed_kmh * 3600;
    END
    $$
    """,
    "DROP FUNCTION first_free_slot(bigint, text, date, date, float8, float8, timestamptz,"
    " timestamptz, integer, float8)",
    "DROP FUNCTION provider_slots(bigint, integer, date, date, float8, float8, timestamptz,"
    " timestamptz, integer, float8)",
    "DROP FUNCTION drive_time",
    """
    CREATE FUNCTION provider_slots(
        provider bigint, minutes integer, first_day date, last_day date,
        at_lat float8, at_lng float8, not_before timestamptz, not_after timestamptz,
        step_minutes integer, speed_kmh float8, on_roads boolean
    ) RETURNS TABLE (slot_start timestamptz, slot_end timestamptz)
    LANGUAGE sql STABLE AS $$
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
                lower(c.during) - make_interval(secs => ceil(travel_seconds(
                    lat, lng, c.latitude, c.longitude, speed_kmh, on_roads))),
                upper(c.during) + make_interval(secs => ceil(travel_seconds(
                    c.latitude, c.longitude, lat, lng, speed_kmh, on_roads)))
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
        step_minutes integer, speed_kmh float8, on_roads boolean
    ) RETURNS TABLE (service_id bigint, slot_start timestamptz, slot_end timestamptz)
    LANGUAGE plpgsql STABLE
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
                                    step_minutes, speed_kmh, on_roads) AS free
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
    "DROP FUNCTION travel_seconds",
    "DROP FUNCTION great_circle_m",
    "DROP FUNCTION road_snap",
    "DROP FUNCTION road_lines",
    "DROP FUNCTION road_paths",
    "DROP FUNCTION road_edges_near",
    "ALTER TABLE route_stops DROP COLUMN leg_seconds, DROP COLUMN leg_travel",
    "ALTER TABLE routes DROP COLUMN travel",
    "DROP TABLE road_costs",
    "DROP TABLE road_edges",
    "DROP TABLE road_vertices",
    "DROP TABLE road_network",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
    for statement in _free_slots_0012().UPGRADE:
        op.execute(statement)


def _free_slots_0012() -> ModuleType:
    """Migration 0012, whose functions (drive_time and the free slots') a downgrade
    restores as it made them."""
    spec = importlib.util.spec_from_file_location(
        "free_slots", Path(__file__).with_name("0012_free_slots.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
