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

- `routes.travel`, `route_stops.leg_travel`: what measured a route's legs, `roads` or
  `great_circle` (a place off the network), and `leg_seconds`, each leg's drive.

pgRouting itself is created here when the server has it; a deployment without it migrates
all the same and routes by great circle (the loader says what is missing).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

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
    # Snapping: the nearest routable vertex, by KNN on the sphere.
    "CREATE INDEX road_vertices_routable ON road_vertices USING gist ((geom::geography))"
    " WHERE routable",
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
]

DOWNGRADE = [
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
