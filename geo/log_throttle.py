"""Warnings about a dependency that is down: said once a while, not once per request."""

import logging
import time


class ThrottledWarning:
    def __init__(self, logger: logging.Logger, every_s: float = 60.0) -> None:
        self._logger = logger
        self._every_s = every_s
        self._last = -every_s

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            self._logger.warning(message, *args)
