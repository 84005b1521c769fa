"""Mail as it arrived at the local SMTP server (scripts/mail_sink.py): one .eml file a
message in MAIL_DIR, shared by every test, so each test reads the mail of its own
addresses only."""

import os
import re
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from tests.support.waiting import until


def mail_dir() -> Path:
    return Path(os.environ["MAIL_DIR"])


# Mail of earlier runs is older than this process, and never read.
_STARTED = time.time() - 60
_read: dict[Path, EmailMessage] = {}


def _message(path: Path) -> EmailMessage:
    if path not in _read:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        _read[path] = message
    return _read[path]


def letters_to(address: str, subject: str = "") -> list[EmailMessage]:
    """Messages to `address` (whose subject starts with `subject`), oldest first."""
    paths = (path for path in sorted(mail_dir().glob("*.eml")) if path not in _read)
    for path in paths:
        if path.stat().st_mtime >= _STARTED:
            _message(path)
    return [
        message
        for _, message in sorted(_read.items())
        if message["To"] == address and str(message["Subject"]).startswith(subject)
    ]


async def letter_to(address: str, subject: str = "", count: int = 1) -> EmailMessage:
    """The `count`th message to `address` (whose subject starts with `subject`), once it
    has arrived."""

    async def arrived() -> bool:
        return len(letters_to(address, subject)) >= count

    assert await until(arrived), f"no mail number {count} to {address} ({subject}…)"
    return letters_to(address, subject)[count - 1]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link_token(message: EmailMessage) -> str:
    """The token of the link the message carries."""
    found = re.search(r"\?token=([A-Za-z0-9_-]+)", text_of(message))
    assert found, text_of(message)
    return found.group(1)
