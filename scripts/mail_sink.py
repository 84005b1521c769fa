"""The development and test SMTP server: every message it accepts is stored whole, as an
`.eml` file in a folder (written aside, then renamed in, so a reader never sees half of
one). Started by scripts/devstack.sh; never for production mail.

    python scripts/mail_sink.py --port 2525 --dir .devstack/mail
"""

import argparse
import asyncio
import itertools
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


class EmlFiles:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.numbers = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{stamp}-{next(self.numbers):06d}"
        aside = self.folder / f".{name}.tmp"
        aside.write_bytes(content)
        aside.rename(self.folder / f"{name}.eml")
        return "250 OK stored"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    arguments = parser.parse_args()
    arguments.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(EmlFiles(arguments.dir), hostname=arguments.host, port=arguments.port)
    controller.start()
    stop = asyncio.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()

    try:
        asyncio.run(serve())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
