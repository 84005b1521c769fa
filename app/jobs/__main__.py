"""`python -m app.jobs`: run a worker until SIGTERM or SIGINT (make worker).

`python -m app.jobs dead`: the dead letters, newest first.
`python -m app.jobs retry ID … | --all`: dead letters back onto the queue, attempts anew.
"""

import argparse
import asyncio
import json
import logging
import os
import sys

from app.edge.logs import JsonFormatter
from app.jobs.worker import make_worker
from app.settings import Settings, from_env
from db import outbox
from db.engine import make_engine


async def _work(settings: Settings) -> None:
    os.nice(settings.jobs.nice)
    worker = make_worker(settings)
    await worker.queue.connect()
    try:
        await worker.start()
    finally:
        await worker.queue.disconnect()


async def _dead(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    async with engine.connect() as connection:
        letters = await outbox.dead_letters(connection)
    await engine.dispose()
    for letter in letters:
        print(
            f"{letter.id}\t{letter.job}\t{letter.failed_at:%Y-%m-%d %H:%M:%S}\t"
            f"{letter.attempts} attempts\t{json.dumps(letter.payload)}\t{letter.error}"
        )
    print(f"{len(letters)} dead letters", file=sys.stderr)


async def _retry(settings: Settings, ids: list[int] | None) -> None:
    engine = make_engine(settings.database_url)
    async with engine.begin() as connection:
        count = await outbox.retry_dead(connection, ids)
    await engine.dispose()
    print(f"{count} dead letters back on the queue", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m app.jobs", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("dead", help="list the dead letters")
    retry = commands.add_parser("retry", help="put dead letters back on the queue")
    retry.add_argument("ids", nargs="*", type=int)
    retry.add_argument("--all", action="store_true")
    arguments = parser.parse_args()
    settings = from_env()
    if arguments.command == "dead":
        asyncio.run(_dead(settings))
    elif arguments.command == "retry":
        if not arguments.ids and not arguments.all:
            parser.error("retry needs dead letters' ids, or --all")
        asyncio.run(_retry(settings, None if arguments.all else arguments.ids))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
        print(
            f"equinet-geo worker: queue {settings.jobs.queue!r}, "
            f"{settings.jobs.concurrency} jobs at once",
            file=sys.stderr,
        )
        asyncio.run(_work(settings))


if __name__ == "__main__":
    main()
