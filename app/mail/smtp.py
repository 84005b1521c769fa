"""Sending through SMTP (SMTP_URL): `smtp://` with STARTTLS when the server offers it,
`smtps://` with TLS from the start; user and password from the URL."""

from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

SMTP_TIMEOUT_S = 30.0


class Mailer:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._implicit_tls = parts.scheme == "smtps"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (465 if self._implicit_tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None

    async def send(self, message: EmailMessage) -> None:
        """Raises aiosmtplib's errors when the server does not take it (the job is retried)."""
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            username=self._user,
            password=self._password,
            use_tls=self._implicit_tls,
            timeout=SMTP_TIMEOUT_S,
        )
