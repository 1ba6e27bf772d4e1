"""``python orchestra.py backup FILE``: a consistent copy of the database, safe while the hub runs.

SQLite's online backup copies the database as of one read transaction; in WAL mode the hub keeps
writing meanwhile. The copy is written beside the target under a temporary name, checked with
``PRAGMA integrity_check``, switched to a single self-contained file (journal mode DELETE: no -wal or
-shm beside it; the hub turns WAL back on when it opens it), flushed to disk, and only then given
its name -- with a hard link, which fails rather than replace a file that appeared meanwhile. An
existing target is never overwritten unless ``force`` is given. FILE may be a directory: the copy
is then named ``orchestra-YYYYmmdd-HHMMSS.db`` inside it.

The token file (``<database>.token``) is not part of the copy; see docs/VM_SETUP.md.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

from orchestra.core.settings import Settings


class BackupError(Exception):
    """The copy could not be made or failed its check; nothing was left at the target."""


def backup(settings: Settings, target: str, *, force: bool = False) -> int:
    """The CLI command: 0 on success, 1 with one line on stderr otherwise."""
    try:
        path = backup_database(settings.database_path, Path(target), force=force)
    except BackupError as exc:
        print(f"orchestra: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {settings.database_path} to {path} ({path.stat().st_size} bytes, integrity ok)")
    return 0


def backup_database(source: Path, target: Path, *, force: bool = False) -> Path:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if target.is_dir():
        target = target / time.strftime("orchestra-%Y%m%d-%H%M%S.db")
    if target.exists() and not force:
        raise BackupError(f"{target} exists; remove it or choose another name")
    if target.resolve() == source.resolve():
        raise BackupError("the target is the database itself")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        _copy(source, partial)
        _check(partial)
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        if force:
            os.replace(partial, target)
        else:
            os.link(partial, target)  # atomic, and refuses an existing name
    except FileExistsError:
        raise BackupError(f"{target} appeared while copying; remove it or choose another name") from None
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(str(exc)) from None
    finally:
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            leftover.unlink(missing_ok=True)
    return target


def _copy(source: Path, partial: Path) -> None:
    # mode=ro: a typo'd path must not create an empty database, and the copy never writes the source.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # all pages in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def _check(path: Path) -> None:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
    finally:
        db.close()
    if problems != ["ok"]:
        raise BackupError("the copy failed its integrity check: " + "; ".join(problems[:5]))
