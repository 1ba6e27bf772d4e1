"""SQLite connections as the hub opens them, which errors are the storage's (not the statement's), and a
read that can be interrupted: the pieces :class:`orchestra.storage.db.Database` is built from.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils

from orchestra.core.errors import StorageUnavailable

READER_BUSY_TIMEOUT_S = 30.0


def connect(path: Path, busy_timeout_s: float = READER_BUSY_TIMEOUT_S) -> sqlite_utils.Database:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    return sqlite_utils.Database(conn)


def create_private(path: Path) -> None:
    """Create the database file owner-only (0600) if it does not exist: it holds every prompt and
    every line the agents printed. SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


_STORAGE_CODES = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
                  sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL}


def is_storage_error(exc: BaseException) -> bool:
    """An error of the storage (disk, locks, I/O), not of the statement: it may pass by itself."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_CODES


def storage_unavailable(exc: sqlite3.Error, busy_timeout_s: float) -> StorageUnavailable:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        message = "database or disk is full"
    elif code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        message = f"database is busy: another process has held a lock on it for over {busy_timeout_s:g} s"
    elif code == sqlite3.SQLITE_IOERR:
        message = f"disk I/O error on the database ({exc})"
    else:
        message = f"the database cannot be written: {exc}"
    return StorageUnavailable(message, {"sqlite_error": getattr(exc, "sqlite_errorname", None)})



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
