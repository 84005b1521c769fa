"""The job worker as `make worker` runs it (`python -m app.jobs`), for tests of mail,
exports and the worker itself."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.live_server import REPOSITORY


@contextmanager
def job_worker(environment: dict[str, str], log: Path | None = None) -> Iterator["Worker"]:
    worker = Worker(environment, log)
    try:
        yield worker
    finally:
        worker.stop()


class Worker:
    """A worker process; `stop` ends it gracefully, `kill` as a crash would."""

    def __init__(self, environment: dict[str, str], log: Path | None = None) -> None:
        self.output = None if log is None else log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.jobs"],
            cwd=REPOSITORY,
            env={**os.environ, **environment},
            stdout=self.output,
            stderr=None if self.output is None else subprocess.STDOUT,
        )

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.output is not None:
            self.output.close()
            self.output = None
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
