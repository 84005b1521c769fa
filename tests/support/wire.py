"""A loopback TCP relay that counts round trips between the app and PostgreSQL.

A round trip is a turn of the conversation: the client speaks after the server has (or
first). Several messages written together (asyncpg's Bind, Execute and Sync) are one turn,
however TCP splits them; waiting for an answer before saying more is another.
"""

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url


@dataclass
class Conversation:
    round_trips: int = 0
    bytes_to_server: int = 0
    _server_spoke_last: bool = True

    def client_said(self, data: bytes) -> None:
        if self._server_spoke_last:
            self.round_trips += 1
        self._server_spoke_last = False
        self.bytes_to_server += len(data)

    def server_said(self, _: bytes) -> None:
        self._server_spoke_last = True


@dataclass
class Relay:
    url: str  # the database URL that goes through the relay
    conversations: list[Conversation]

    @property
    def round_trips(self) -> int:
        return sum(c.round_trips for c in self.conversations)

    @property
    def bytes_to_server(self) -> int:
        return sum(c.bytes_to_server for c in self.conversations)

    def forget(self) -> None:
        """Start counting afresh (connections stay open)."""
        for conversation in self.conversations:
            conversation.round_trips = conversation.bytes_to_server = 0


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: Callable[[bytes], None]
) -> None:
    try:
        while data := await reader.read(65536):
            heard(data)
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextmanager
def counting_relay(database_url: str) -> Iterator[Relay]:
    """A relay in front of `database_url`'s server, and the URL that reaches it. It runs on
    an event loop of its own, so it keeps relaying whatever the caller's loop is doing."""
    target = make_url(database_url)
    conversations: list[Conversation] = []

    async def relay(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        server_reader, server = await asyncio.open_connection(target.host, target.port)
        conversation = Conversation()
        conversations.append(conversation)
        await asyncio.gather(
            _pump(client_reader, server, conversation.client_said),
            _pump(server_reader, client, conversation.server_said),
        )

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    listener = asyncio.run_coroutine_threadsafe(
        asyncio.start_server(relay, "127.0.0.1", 0), loop
    ).result()
    port = listener.sockets[0].getsockname()[1]
    try:
        yield Relay(target.set(host="127.0.0.1", port=port).render_as_string(False), conversations)
    finally:
        asyncio.run_coroutine_threadsafe(_stop(listener), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _stop(listener: asyncio.Server) -> None:
    listener.close()
    relaying = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in relaying:
        task.cancel()
    await asyncio.gather(*relaying, return_exceptions=True)
