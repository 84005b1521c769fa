"""Structured logs: one JSON object a line, each carrying the id of the request it was
written for (X-Request-ID, accepted from the client when well-formed, else made here, and
echoed in the answer)."""

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from litestar.types import ASGIApp, Receive, Scope, Send

from app.edge.state import raw_header, request_state

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode()
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_of(scope: Scope) -> str:
    """The request's id: the client's, if well-formed, else a new one (kept in its state)."""
    state = request_state(scope)
    if state.request_id is None:
        given = (raw_header(scope, _REQUEST_ID_RAW) or b"").decode("latin-1")
        state.request_id = given if _WELL_FORMED.match(given) else uuid4().hex
    return state.request_id


def request_ids(app: ASGIApp) -> ASGIApp:
    """Middleware: log lines written while a request is handled carry its id."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        token = _current_request_id.set(request_id_of(scope))
        try:
            await app(scope, receive, send)
        finally:
            _current_request_id.reset(token)

    return middleware


def _record_with_request_id(factory: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = factory(*args, **kwargs)
        record.request_id = _current_request_id.get()
        return record

    make.adds_request_id = True  # type: ignore[attr-defined]
    return make


def stamp_records_with_request_ids() -> None:
    """Every log record, from any logger, notes the request being handled (once per process:
    records are made in the request's task, and written later by a queue's thread)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "adds_request_id", False):
        logging.setLogRecordFactory(_record_with_request_id(factory))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
