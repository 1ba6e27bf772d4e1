"""``python orchestra.py backup FILE``: a consistent copy of the database, safe while the hub runs."""

from __future__ import annotations

import sqlite3
import sys

from .settings import Settings


def backup(settings: Settings, target: str) -> int:
    source = settings.database_path
    if not source.exists():
        print(f"orchestra: no database at {source}", file=sys.stderr)
        return 1
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    print(f"backed up {source} to {target}")
    return 0
