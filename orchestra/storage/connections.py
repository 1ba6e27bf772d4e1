"""SQLite connections as the hub opens them and which errors are the storage's (not the statement's):
the pieces :class:`orchestra.storage.db.Database` and :mod:`orchestra.storage.reads` are built from."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

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
