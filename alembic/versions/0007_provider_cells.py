"""Provider counts per grid cell, kept for the zoomed-out map.

A map zoomed out over a country shows a few hundred clusters of providers; grouping every
provider on each request takes seconds at a million. This keeps, for each zoom up to 12,
each grid cell's number of active providers and the sums of their coordinates (so its
centroid is a division away), once for every provider and once per service category. A
statement-level trigger on providers keeps them in the writing transaction: a write sees
its own counts, and a rolled back one leaves none behind.

The grid is the one geo.clusters describes: at zoom z a cell is 360 / (4 * 2^z) degrees
square, numbered by floor(degrees / cell size).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = [
    """
    CREATE FUNCTION cell_row(zoom integer, latitude double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT floor(latitude / (360::double precision / (4 << zoom)))::integer
    $$
    """,
    """
    CREATE FUNCTION cell_column(zoom integer, longitude double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        -- Longitude 180 goes with the column west of it, as the centroid's mean needs.
        SELECT least(floor(longitude / (360::double precision / (4 << zoom)))::integer,
                     (2 << zoom) - 1)
    $$
    """,
    """
    CREATE TABLE provider_cells (
        zoom          smallint NOT NULL,
        -- '' counts every provider; a category counts those offering it.
        category      text NOT NULL,
        cell_row      integer NOT NULL,
        cell_column   integer NOT NULL,
        providers     integer NOT NULL,
        latitude_sum  double precision NOT NULL,
        longitude_sum double precision NOT NULL,
        PRIMARY KEY (zoom, category, cell_row, cell_column)
    )
    """,
    """
    -- Cells a write has just emptied (or taken below zero), found without a scan.
    CREATE INDEX provider_cells_emptied ON provider_cells (zoom) WHERE providers <= 0
    """,
    """
    CREATE TYPE provider_cell_change AS (
        latitude double precision, longitude double precision, categories text[], sign integer
    )
    """,
    """
    -- Adds each change (+1: a provider now counted here, -1: no longer) to the cells of
    -- every zoom, in key order so that concurrent writers lock shared cells in one order
    -- and never deadlock. A provider moving within a cell changes its sums, not its count.
    -- A count below zero means the counts no longer match the providers: the write fails
    -- rather than make them worse. (A CHECK constraint can't say so: INSERT ... ON
    -- CONFLICT checks it on the row it would insert, the change alone.)
    CREATE FUNCTION add_to_provider_cells(changes provider_cell_change[]) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO provider_cells AS cell
               (zoom, category, cell_row, cell_column, providers, latitude_sum, longitude_sum)
        SELECT z.zoom, k.category,
               cell_row(z.zoom, ch.latitude), cell_column(z.zoom, ch.longitude),
               sum(ch.sign), sum(ch.sign * ch.latitude), sum(ch.sign * ch.longitude)
          FROM unnest(changes) ch
         CROSS JOIN generate_series(0, 12) z (zoom)
         CROSS JOIN LATERAL unnest(array_append(ch.categories, '')) k (category)
         GROUP BY 1, 2, 3, 4
        HAVING sum(ch.sign) <> 0 OR sum(ch.sign * ch.latitude) <> 0
               OR sum(ch.sign * ch.longitude) <> 0
         ORDER BY 1, 2, 3, 4
        ON CONFLICT (zoom, category, cell_row, cell_column) DO UPDATE
           SET providers = cell.providers + excluded.providers,
               latitude_sum = cell.latitude_sum + excluded.latitude_sum,
               longitude_sum = cell.longitude_sum + excluded.longitude_sum;
        DELETE FROM provider_cells WHERE providers = 0;
        IF EXISTS (SELECT FROM provider_cells WHERE providers < 0) THEN
            RAISE EXCEPTION 'provider_cells: a count below zero'
                USING ERRCODE = 'check_violation', TABLE = 'provider_cells';
        END IF;
    END $$
    """,
    """
    -- Only what moves a provider between cells or in or out of the counts: a renamed
    -- provider touches no cell.
    CREATE FUNCTION count_provider_cells() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- A transition table exists only for the events that have it.
        IF TG_OP = 'INSERT' THEN
            PERFORM add_to_provider_cells(ARRAY(
                SELECT (latitude, longitude, categories, 1)::provider_cell_change
                  FROM new_providers WHERE is_active));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM add_to_provider_cells(ARRAY(
                SELECT (latitude, longitude, categories, -1)::provider_cell_change
                  FROM old_providers WHERE is_active));
        ELSE
            -- A provider's old and new row cancel out when neither counts differently.
            PERFORM add_to_provider_cells(ARRAY(
                SELECT (latitude, longitude, categories, sum(sign)::integer)::provider_cell_change
                  FROM (SELECT id, latitude, longitude, categories, 1 AS sign
                          FROM new_providers WHERE is_active
                        UNION ALL
                        SELECT id, latitude, longitude, categories, -1
                          FROM old_providers WHERE is_active) side
                 GROUP BY id, latitude, longitude, categories
                HAVING sum(sign) <> 0));
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION empty_provider_cells() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE provider_cells;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER providers_cells_insert AFTER INSERT ON providers
        REFERENCING NEW TABLE AS new_providers
        FOR EACH STATEMENT EXECUTE FUNCTION count_provider_cells()
    """,
    """
    CREATE TRIGGER providers_cells_update AFTER UPDATE ON providers
        REFERENCING OLD TABLE AS old_providers NEW TABLE AS new_providers
        FOR EACH STATEMENT EXECUTE FUNCTION count_provider_cells()
    """,
    """
    CREATE TRIGGER providers_cells_delete AFTER DELETE ON providers
        REFERENCING OLD TABLE AS old_providers
        FOR EACH STATEMENT EXECUTE FUNCTION count_provider_cells()
    """,
    """
    CREATE TRIGGER providers_cells_truncate AFTER TRUNCATE ON providers
        FOR EACH STATEMENT EXECUTE FUNCTION empty_provider_cells()
    """,
    """
    SELECT add_to_provider_cells(ARRAY(
        SELECT (latitude, longitude, categories, 1)::provider_cell_change
          FROM providers WHERE is_active))
    """,
]

DOWNGRADE = [
    "DROP TRIGGER providers_cells_truncate ON providers",
    "DROP TRIGGER providers_cells_delete ON providers",
    "DROP TRIGGER providers_cells_update ON providers",
    "DROP TRIGGER providers_cells_insert ON providers",
    "DROP FUNCTION empty_provider_cells()",
    "DROP FUNCTION count_provider_cells()",
    "DROP FUNCTION add_to_provider_cells(provider_cell_change[])",
    "DROP TYPE provider_cell_change",
    "DROP TABLE provider_cells",
    "DROP FUNCTION cell_column(integer, double precision)",
    "DROP FUNCTION cell_row(integer, double precision)",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
