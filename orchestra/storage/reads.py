"""The database's read side: one read connection, one read at a time on a worker thread, each
interruptible by its caller, and a close that waits for the thread still inside the connection."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sqlite_utils
import trio

from orchestra.storage.connections import READER_BUSY_TIMEOUT_S, is_storage_error, storage_unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Reads run one at a time. The sqlite3 module releases the GIL around every row it steps through, so
# concurrent readers hand the GIL back and forth per row: a 100-row page of executions costs 0.33 ms
# of CPU alone, 0.66 ms two at a time, 1.1-1.9 ms four at a time (python -m benchmarks.micro); at
# concurrency 4, GET /executions went from p99 16-18 ms to 7.7-9 ms. Queued reads wait less than that.
READ_CONCURRENCY = 1
# At close, a cancelled read still running on its thread gets this long to notice its interrupt.
READS_DRAIN_AT_CLOSE_S = 5.0


class DatabaseClosed(Exception):
    pass


class InterruptibleRead:
    """One read on the shared read connection. ``interrupt`` stops its query if it is running, and
    cannot reach another read's: a read cancelled while it waited for the slot interrupts nothing."""

    def __init__(self, db: sqlite_utils.Database, fn: Callable[[sqlite_utils.Database], Any]) -> None:
        self._db, self._fn = db, fn
        self._lock = threading.Lock()
        self._running = False
        self._cancelled = False

    def run(self) -> Any:
        conn = self._db.conn
        with self._lock:
            if self._cancelled:  # the caller has moved on: nobody reads this read's result
                return None
            self._running = True
        try:
            if conn.in_transaction:  # left open by an interrupted COMMIT
                conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            try:
                return self._fn(self._db)
            finally:
                with self._lock:
                    self._running = False
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # a read-only snapshot: nothing to keep
        except sqlite3.Error as exc:
            if is_storage_error(exc):
                raise storage_unavailable(exc, READER_BUSY_TIMEOUT_S) from exc
            raise

    def interrupt(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._running:
                self._db.conn.interrupt()


class Reads:
    """The read connection and its slot. A read whose caller is cancelled is interrupted and abandoned,
    not waited for: its thread runs on until SQLite notices, holding the slot meanwhile. Closing a
    connection under a running statement crashes the interpreter (a NULL connection is stepped on:
    cpython#145046; seen as a segfault in CI), so :meth:`close` takes the slot first."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._db = db
        self._slot = trio.CapacityLimiter(READ_CONCURRENCY)
        self._closed = False  # set in the slot, just before the connection closes

    async def run(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        read = InterruptibleRead(self._db, fn)

        def in_the_slot() -> T:
            if self._closed:
                raise DatabaseClosed("the database is closed")
            result: T = read.run()
            return result

        try:
            return await trio.to_thread.run_sync(in_the_slot, abandon_on_cancel=True, limiter=self._slot)
        except trio.Cancelled:
            read.interrupt()
            raise

    async def close(self) -> None:
        """Close the connection once no read runs on it (left open, with a warning, if one runs on
        past READS_DRAIN_AT_CLOSE_S); reads after this raise DatabaseClosed."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(READS_DRAIN_AT_CLOSE_S) as waiting:
                await self._slot.acquire_on_behalf_of(self)
            self._closed = True
            if waiting.cancelled_caught:
                log.warning("a read still runs after %.0f s: its connection is left open", READS_DRAIN_AT_CLOSE_S)
                return
            await trio.to_thread.run_sync(self._db.conn.close)
            self._slot.release_on_behalf_of(self)
