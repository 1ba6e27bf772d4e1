"""The HTTP/1.1 side of the tests' stand-in servers (tests/model_server.py, tests/forge_server.py): a
listener on a free loopback port and h11 keep-alive connections, each request handed whole (head and
body) to the server's responder, which writes its answer with ``conn.send``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import h11
import trio

Responder = Callable[[trio.SocketStream, h11.Connection, h11.Request, bytes], Awaitable[None]]


async def serve_loopback(owner: Any, respond: Responder, task_status: trio.TaskStatus[Any]) -> None:
    """Listen on 127.0.0.1 (the port goes to ``owner.port``), then report ``owner`` as started."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    owner.port = listeners[0].socket.getsockname()[1]

    async def connection(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
        try:
            while True:
                received = await read_request(stream, conn)
                if received is None:
                    return
                await respond(stream, conn, *received)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return  # the client hung up (or spoke nonsense): nothing to answer
        finally:
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, connection, listeners)
        task_status.started(owner)


async def read_request(stream: trio.SocketStream, conn: h11.Connection) -> tuple[h11.Request, bytes] | None:
    """The next request and its body as sent; None when the client closed instead."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                await stream.send_all(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            conn.receive_data(await stream.receive_some(1 << 16))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, bytes(body)
        else:  # ConnectionClosed, PAUSED
            return None
