"""Booking contention: concurrent clients racing for overlapping slots, booked two ways.

- exclusion constraint (the product): a plain INSERT under READ COMMITTED into the real
  `bookings` table; its exclusion constraint refuses an overlap (SQLSTATE 23P01), which is
  a conflict, never retried. Two inserts that each find the other's row in flight wait for
  each other until PostgreSQL fails one (40P01): a conflict too, as db.bookings answers it.
- serializable with retry (the baseline many teams write): in a SERIALIZABLE transaction,
  look for an overlapping booking and insert if there is none; a serialization failure
  runs the transaction again. It books into a table of its own with no constraint, indexed
  on (provider, time) like ours.

The product never uses serializable isolation; this baseline exists only here (the lint
rule in the Makefile exempts bench/ for it). Both sides send the same rows for the same
attempts, which every client draws from the same seeded sequence: a visit of one hour
starting on a quarter hour between 08:00 and 11:00, so most attempts overlap another.
After each run the benchmark counts double bookings, overlapping pairs that both
committed: the exclusion constraint must leave none.

    python -m bench.contention [--clients 16] [--attempts 25] [--quick]
"""

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.databases import Dataset, log, prepared
from bench.reporting import write_results
from db.databases import asyncpg_dsn, direct_url
from db.seed import Distribution

PROVIDERS = 4
DAYS = 3
VISIT = timedelta(hours=1)
QUARTERS = 13  # starts 08:00, 08:15, ... 11:00
MAX_RETRIES = 50
NOTE = "bench contention"
BASELINE_TABLE = "bench_serializable_bookings"


@dataclass(frozen=True, slots=True)
class Attempt:
    provider_id: int
    service_id: int
    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + VISIT


@dataclass
class Outcome:
    design: str
    clients: int
    attempts: int
    successes: int = 0
    conflicts: int = 0
    retries: int = 0
    deadlocks: int = 0
    """Conflicts PostgreSQL found as two inserts waiting on each other (ours: the slot is
    taken, as the product answers; the baseline retries them)."""
    gave_up: int = 0
    seconds: float = 0.0
    double_bookings: int = 0

    @property
    def per_second(self) -> float:
        return self.attempts / self.seconds


Book = Callable[[asyncpg.Connection, Attempt, Outcome], Awaitable[None]]


async def book_under_constraint(
    connection: asyncpg.Connection, attempt: Attempt, outcome: Outcome
) -> None:
    try:
        await connection.execute(
            "INSERT INTO bookings (provider_id, customer_id, service_id, horse_name, notes,"
            " during) VALUES ($1, $1, $2, 'Bench', $3, tstzrange($4, $5, '[)'))",
            attempt.provider_id,  # and the customer: a seeded provider's user has its id
            attempt.service_id,
            NOTE,
            attempt.start,
            attempt.end,
        )
        outcome.successes += 1
    except asyncpg.ExclusionViolationError:
        outcome.conflicts += 1
    except asyncpg.DeadlockDetectedError:
        outcome.conflicts += 1
        outcome.deadlocks += 1


async def book_serializable(
    connection: asyncpg.Connection, attempt: Attempt, outcome: Outcome
) -> None:
    for _ in range(MAX_RETRIES + 1):
        try:
            async with connection.transaction(isolation="serializable"):
                taken = await connection.fetchval(
                    f"SELECT EXISTS (SELECT FROM {BASELINE_TABLE} WHERE provider_id = $1"
                    " AND during && tstzrange($2, $3, '[)'))",
                    attempt.provider_id,
                    attempt.start,
                    attempt.end,
                )
                if not taken:
                    await connection.execute(
                        f"INSERT INTO {BASELINE_TABLE} (provider_id, during)"
                        " VALUES ($1, tstzrange($2, $3, '[)'))",
                        attempt.provider_id,
                        attempt.start,
                        attempt.end,
                    )
        except asyncpg.SerializationError:
            outcome.retries += 1
            continue
        except asyncpg.DeadlockDetectedError:
            outcome.retries += 1
            outcome.deadlocks += 1
            continue
        if taken:
            outcome.conflicts += 1
        else:
            outcome.successes += 1
        return
    outcome.gave_up += 1


async def _services(connection: asyncpg.Connection) -> dict[int, int]:
    """A service of each of the first providers: a booking needs one."""
    rows = await connection.fetch(
        "SELECT DISTINCT ON (provider_id) provider_id, id FROM services"
        " WHERE provider_id <= $1 ORDER BY provider_id, id",
        PROVIDERS,
    )
    return {row["provider_id"]: row["id"] for row in rows}


def attempts(services: dict[int, int], count: int, rng: random.Random) -> list[Attempt]:
    first_day = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    first_day += timedelta(days=30)
    return [
        Attempt(
            provider_id,
            services[provider_id],
            first_day + timedelta(days=rng.randrange(DAYS), minutes=15 * rng.randrange(QUARTERS)),
        )
        for provider_id in (rng.choice(list(services)) for _ in range(count))
    ]


async def _prepare(connection: asyncpg.Connection) -> None:
    await connection.execute(
        f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (id bigserial PRIMARY KEY,"
        " provider_id bigint NOT NULL, during tstzrange NOT NULL)"
    )
    await connection.execute(
        f"CREATE INDEX IF NOT EXISTS {BASELINE_TABLE}_during"
        f" ON {BASELINE_TABLE} USING gist (provider_id, during)"
    )
    await _clear(connection)


async def _clear(connection: asyncpg.Connection) -> None:
    await connection.execute(f"TRUNCATE {BASELINE_TABLE}")
    await connection.execute("DELETE FROM bookings WHERE notes = $1", NOTE)


_OVERLAPPING_PAIRS = (
    "SELECT count(*) FROM {table} a JOIN {table} b ON a.provider_id = b.provider_id"
    " AND a.id < b.id AND a.during && b.during{where}"
)


async def double_bookings(connection: asyncpg.Connection, design: str) -> int:
    if design == "serializable":
        query = _OVERLAPPING_PAIRS.format(table=BASELINE_TABLE, where="")
        return int(await connection.fetchval(query))
    ours = _OVERLAPPING_PAIRS.format(table="bookings", where=" WHERE a.notes = $1 AND b.notes = $1")
    return int(await connection.fetchval(ours, NOTE))


async def race(url: str, design: str, book: Book, work: list[list[Attempt]]) -> Outcome:
    """Every client books its attempts one after another, all clients at once."""
    dsn = asyncpg_dsn(url)
    connections = await asyncio.gather(*(asyncpg.connect(dsn) for _ in work))
    outcome = Outcome(design, len(work), sum(len(w) for w in work))

    async def client(connection: asyncpg.Connection, mine: list[Attempt]) -> None:
        for attempt in mine:
            await book(connection, attempt, outcome)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(client(c, mine) for c, mine in zip(connections, work, strict=True)))
        outcome.seconds = time.perf_counter() - started
        outcome.double_bookings = await double_bookings(connections[0], design)
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    return outcome


async def run(url: str, clients: int, per_client: int, rounds: int) -> list[Outcome]:
    """`rounds` runs of each design, taking turns, each on empty calendars."""
    setup = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await _prepare(setup)
        services = await _services(setup)
        outcomes = []
        for turn in range(rounds):
            rng = random.Random(turn)
            drawn = attempts(services, clients * per_client, rng)
            work = [drawn[i::clients] for i in range(clients)]
            for design, book in (
                ("exclusion constraint", book_under_constraint),
                ("serializable", book_serializable),
            ):
                await _clear(setup)
                outcome = await race(url, design, book, work)
                log(
                    f"contention {design}: {outcome.successes} booked, {outcome.conflicts}"
                    f" conflicts, {outcome.retries} retries, {outcome.per_second:.0f}/s"
                )
                outcomes.append(outcome)
        await _clear(setup)
    finally:
        await setup.close()
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| design | clients | attempts | booked | conflicts | retries | deadlocks | gave up"
        " | attempts/s | double bookings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {o.design} | {o.clients} | {o.attempts} | {o.successes} | {o.conflicts}"
        f" | {o.retries} | {o.deadlocks} | {o.gave_up} | {o.per_second:,.0f}"
        f" | {o.double_bookings} |"
        for o in outcomes
    ]
    return "\n".join(lines)


def check(outcomes: list[Outcome]) -> None:
    """The product's design must never double-book."""
    for o in outcomes:
        if o.design == "exclusion constraint" and o.double_bookings:
            raise SystemExit(f"{o.double_bookings} double bookings under the exclusion constraint")


async def main() -> None:
    parser = argparse.ArgumentParser(description="booking contention, two designs")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--attempts", type=int, default=40, help="per client")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="8 clients, 10 attempts, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.attempts, args.rounds = 8, 10, 1
    admin_url = direct_url() or sys.exit("DATABASE_URL is not set")
    url = await prepared(admin_url, Dataset(10_000, Distribution.clustered))
    outcomes = await run(url, args.clients, args.attempts, args.rounds)
    print(table(outcomes))
    results = {"outcomes": [asdict(o) | {"per_second": o.per_second} for o in outcomes]}
    write_results("contention", results, quick=args.quick)
    check(outcomes)


if __name__ == "__main__":
    asyncio.run(main())
