"""Mail as it arrived at the local SMTP server (scripts/mail_sink.py): one .eml file a
message in MAIL_DIR, shared by every test, so each test reads the mail of its own
addresses only."""

import asyncio
import os
import re
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

MAIL_WAIT_S = 20.0


def mail_dir() -> Path:
    return Path(os.environ["MAIL_DIR"])


def letters_to(address: str, since: float = 0.0) -> list[EmailMessage]:
    """Messages to `address` stored since `since` (a time.time()), oldest first."""
    found = []
    for path in sorted(mail_dir().glob("*.eml")):
        if path.stat().st_mtime < since:
            continue
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        if message["To"] == address:
            found.append(message)
    return found


async def letter_to(address: str, since: float = 0.0, count: int = 1) -> EmailMessage:
    """The `count`th message to `address` since `since`, once it has arrived."""
    deadline = time.monotonic() + MAIL_WAIT_S
    while time.monotonic() < deadline:
        if len(found := letters_to(address, since)) >= count:
            return found[count - 1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail number {count} to {address} within {MAIL_WAIT_S} s")


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
