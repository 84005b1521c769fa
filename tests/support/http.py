"""How the load tests' clients behave as HTTP clients should."""

from typing import Any

import httpx

CLOSED_UNANSWERED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
"""What a request sent on a kept-alive connection the server closes at that moment meets
(nginx's old workers close their idle connections on a reload): no answer, and nothing
done. Where the connection was not new, the request was never read."""


async def get(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> httpx.Response:
    """GET, sent again once if its connection was closed before any answer, as RFC 9112
    (9.3.1) lets a client do with an idempotent request, and browsers do."""
    try:
        return await client.get(path, params=params)
    except CLOSED_UNANSWERED:
        return await client.get(path, params=params)
