"""A minimal WebSocket client for the event-path subscribers: RFC 6455 framing on a trio stream.

trio-websocket (wsproto) spends more CPU per delivered event than the hub does, on the same two
cores, which would measure the client rather than the hub. This client only does what a subscriber
needs: the upgrade handshake, unmasked server frames (text, continuation, ping, close), and masked
pong/close replies. Payloads are returned as bytes and never decoded here.
"""

from __future__ import annotations

import base64
import os
import struct

import trio


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, host: str, port: int, path: str) -> WebSocket:
        stream = await trio.open_tcp_stream(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        ws = cls(stream)
        while b"\r\n\r\n" not in ws.buffer:
            await ws._fill()
        head, _, rest = bytes(ws.buffer).partition(b"\r\n\r\n")
        ws.buffer = bytearray(rest)
        if not head.startswith(b"HTTP/1.1 101"):
            await stream.aclose()
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            raise Closed(None, f"upgrade refused: {status}")
        return ws

    async def _fill(self) -> None:
        chunk = await self.stream.receive_some(1 << 20)
        if not chunk:
            raise Closed(1006, "connection lost")
        self.buffer += chunk

    async def _need(self, count: int) -> None:
        while len(self.buffer) < count:
            await self._fill()

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        header = bytes([0x80 | opcode])
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        await self.stream.send_all(header + mask + masked)

    async def get_message(self) -> bytes:
        """The next whole text/binary message; answers pings; raises :class:`Closed` on a close frame."""
        parts: list[bytes] = []
        while True:
            await self._need(2)
            first, second = self.buffer[0], self.buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                await self._need(4)
                length, offset = struct.unpack_from("!H", self.buffer, 2)[0], 4
            elif length == 127:
                await self._need(10)
                length, offset = struct.unpack_from("!Q", self.buffer, 2)[0], 10
            await self._need(offset + length)
            payload = bytes(self.buffer[offset:offset + length])
            del self.buffer[:offset + length]
            opcode = first & 0x0F
            if opcode == 0x9:
                await self._send_frame(0xA, payload)
            elif opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    await self._send_frame(0x8, payload[:2])
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
                await self.stream.aclose()
                raise Closed(code, payload[2:].decode(errors="replace"))
            elif opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if first & 0x80:
                    return parts[0] if len(parts) == 1 else b"".join(parts)

    async def aclose(self) -> None:
        try:
            await self._send_frame(0x8, struct.pack("!H", 1000))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await self.stream.aclose()
