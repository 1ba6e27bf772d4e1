"""The hub feed (``/ws/hub``): the project and run events of every project on one stream, so that a
list of all projects (this browser's, another's, a script's) follows runs started anywhere, without
polling.

Its events are written by the transactions that cause them (``WriteJobContext.emit_hub``:
definitions.py for ``project.created|updated|deleted``, ``transitions.announce_run`` for ``run.started|finished``) into
``hub_events``, with a hub-wide gap-free ``seq`` (``events.Sequencer`` under ``events.HUB_STREAM``), and
the WebSocket route (api/ws.py) replays and follows them exactly as it does a project's stream. This
module reads them back.
"""

from __future__ import annotations

from typing import TypedDict

import sqlite_utils

from orchestra.core.rows import Project
from orchestra.core.statuses import MessageType
from orchestra.storage import store


class HubSnapshot(TypedDict):
    type: MessageType
    seq: int  # the feed's latest seq: live events after it follow
    projects: list[Project]  # as GET /projects lists them


def latest_seq(db: sqlite_utils.Database) -> int:
    seq: int = db.execute("SELECT coalesce(max(seq), 0) FROM hub_events").fetchone()[0]
    return seq


def events_after(db: sqlite_utils.Database, after: int, limit: int) -> list[tuple[int, str]]:
    """Up to ``limit`` stored events with ``seq > after``, oldest first, as (seq, JSON text)."""
    return list(db.execute("SELECT seq, body FROM hub_events WHERE seq > ? ORDER BY seq LIMIT ?", [after, limit]))


def snapshot(db: sqlite_utils.Database) -> HubSnapshot:
    """Every project now, and the seq it is current as of (one read: the two agree)."""
    return {"type": MessageType.SNAPSHOT, "seq": latest_seq(db), "projects": store.list_projects(db)}
