"""Test helpers around helper processes: a named pipe a helper script announces itself on (waited on
without polling), and the live processes whose command line mentions a marker."""

from __future__ import annotations

import os
from pathlib import Path

import trio


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


def live_processes_mentioning(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``. Blocking: a /proc scan."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            state = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def leftovers(marker: str) -> list[int]:
    return await trio.to_thread.run_sync(live_processes_mentioning, marker)
