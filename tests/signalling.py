"""Test helpers around helper processes: a named pipe a helper script announces itself on (waited on
without polling), and the live processes whose command line mentions a marker."""

from __future__ import annotations

import os
from pathlib import Path

import trio

from benchmarks.procfs import processes_mentioning


class Fifo:
    """A named pipe under the test's directory. Opened read-write, so a writer never blocks on open
    and the test never sees an early end of file; :meth:`line` waits for the next line written."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self._stream = trio.lowlevel.FdStream(os.open(path, os.O_RDWR | os.O_NONBLOCK))
        self._buffer = b""

    async def line(self) -> str:
        while b"\n" not in self._buffer:
            self._buffer += await self._stream.receive_some(4096)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def aclose(self) -> None:
        await self._stream.aclose()


async def leftovers(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker`` (a /proc scan, in a thread)."""
    return await trio.to_thread.run_sync(processes_mentioning, marker)
