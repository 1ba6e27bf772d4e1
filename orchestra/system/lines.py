"""Split a byte stream into lines with a cap, since trio has no readline and agents print anything."""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class Line:
    data: bytes
    length: int  # bytes the agent printed on this line; more than len(data) when it was cut

    @property
    def truncated(self) -> bool:
        return self.length > len(self.data)


class LineSplitter:
    """Feed chunks, get complete lines. A line longer than ``max_bytes`` is cut, not buffered whole."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._partial = bytearray()
        self._partial_length = 0  # bytes seen of the current line, kept or not

    def feed(self, chunk: bytes | bytearray) -> list[Line]:
        lines: list[Line] = []
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                return lines
            self._keep(chunk[start:end])
            lines.append(self._take())
            start = end + 1

    def finish(self) -> list[Line]:
        """The last line, when the stream ended without a newline."""
        return [self._take()] if self._partial_length else []

    def _keep(self, piece: bytes | bytearray) -> None:
        room = self.max_bytes - len(self._partial)
        if room > 0:
            self._partial += piece[:room]
        self._partial_length += len(piece)

    def _take(self) -> Line:
        data = bytes(self._partial)
        if data.endswith(b"\r"):
            data = data[:-1]
        line = Line(data, max(self._partial_length, len(data)))
        self._partial.clear()
        self._partial_length = 0
        return line
