"""Events: gap-free sequence numbers, storage rows, and fan-out to subscribers.

There is one stream of events per project (table ``events``, ``seq`` per project) and one for the
whole hub, the hub feed (table ``hub_events``, its own ``seq``: project and run events of every
project), whose key on the bus and in the :class:`Sequencer` is :data:`HUB_STREAM`.

An event is stored before it is sent: the database writer assigns ``seq`` inside its transaction
and hands the committed events to :class:`EventBus` afterwards. Each event is encoded to JSON once,
in the writer thread, and that text is what every subscriber receives.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlite_utils
import trio

# The hub feed's key where a project's id keys its own stream: no project id is empty.
HUB_STREAM = ""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    project_id: str  # the stream: a project's id, or HUB_STREAM
    seq: int
    body: str  # the event as JSON text, sent to clients as is
    node_change: bool = False  # a node.* event: cached node lists of the project are stale


def encode(value: Any) -> str:
    """Strict JSON: a NaN or an Infinity raises here instead of reaching a client as invalid JSON."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class Sequencer:
    """Per-stream ``seq`` counters (each project's, and the hub feed's), used only by the single writer thread.

    A counter is loaded from the table on first use. A rolled-back job gives its numbers back (the
    sequence stays gap-free): each change is logged, and :meth:`rollback` undoes those after a mark,
    so a job costs what it touches, not a copy of every project's counter.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._undo: list[tuple[str, int | None]] = []

    def next(self, db: sqlite_utils.Database, project_id: str) -> int:
        return self.take(db, project_id, 1)

    def take(self, db: sqlite_utils.Database, project_id: str, count: int) -> int:
        """Reserve ``count`` consecutive numbers; return the first."""
        last = self._last.get(project_id)
        self._undo.append((project_id, last))
        if last is None:
            if project_id == HUB_STREAM:
                row = db.execute("SELECT max(seq) FROM hub_events").fetchone()
            else:
                row = db.execute("SELECT max(seq) FROM events WHERE project_id = ?", [project_id]).fetchone()
            last = row[0] or 0
        self._last[project_id] = last + count
        return last + 1

    def mark(self) -> int:
        return len(self._undo)

    def rollback(self, mark: int) -> None:
        while len(self._undo) > mark:
            project_id, previous = self._undo.pop()
            if previous is None:
                self._last.pop(project_id, None)
            else:
                self._last[project_id] = previous

    def committed(self) -> None:
        self._undo.clear()


def build_event(
    seq: int,
    project_id: str,
    type_: str,
    *,
    run_id: str | None = None,
    node_id: str | None = None,
    execution_id: str | None = None,
    **payload: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {"seq": seq, "ts": time.time(), "type": type_, "project_id": project_id}
    if run_id is not None:
        event["run_id"] = run_id
    if node_id is not None:
        event["node_id"] = node_id
    if execution_id is not None:
        event["execution_id"] = execution_id
    event.update(payload)
    return event


CLOSE_GOING_AWAY = 1001
CLOSE_TOO_SLOW = 4008


class SubscriptionClosed(Exception):
    """The hub ends this subscription: it fell too far behind (4008) or the hub stops (1001)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Subscription:
    """A bounded buffer of one subscriber's pending events; overflowing it ends the subscription."""

    def __init__(self, project_id: str, max_pending: int) -> None:
        self.project_id = project_id
        self.max_pending = max_pending
        self.closed: SubscriptionClosed | None = None
        self._pending: deque[StoredEvent] = deque()
        self._ready = trio.Event()

    def offer(self, events: list[StoredEvent]) -> None:
        if self.closed is not None:
            return
        self._pending.extend(events)
        if len(self._pending) > self.max_pending:
            self.close(CLOSE_TOO_SLOW, f"subscriber fell more than {self.max_pending} events behind; "
                       "reconnect with ?since=<last seq>")
        self._ready.set()

    def close(self, code: int, reason: str) -> None:
        self.closed = SubscriptionClosed(code, reason)
        self._pending.clear()
        self._ready.set()

    async def next_batch(self, limit: int) -> list[StoredEvent]:
        """Wait for at least one event; return up to ``limit`` of them, oldest first."""
        while not self._pending:
            if self.closed is not None:
                raise self.closed
            self._ready = trio.Event()
            await self._ready.wait()
        return self.take_nowait(limit)

    def take_nowait(self, limit: int) -> list[StoredEvent]:
        count = min(limit, len(self._pending))
        return [self._pending.popleft() for _ in range(count)]


class EventBus:
    """Fan-out of committed events to the live subscribers of each stream (a project, or the hub
    feed: :data:`HUB_STREAM`). Never blocks."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}
        self._changed = trio.Event()

    @contextmanager
    def subscribe(self, project_id: str, max_pending: int = 20_000) -> Iterator[Subscription]:
        subscription = Subscription(project_id, max_pending)
        self._subscribers.setdefault(project_id, set()).add(subscription)
        self._changed.set()
        self._changed = trio.Event()
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(project_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[project_id]
            self._changed.set()
            self._changed = trio.Event()

    def publish(self, events: list[StoredEvent]) -> None:
        by_project: dict[str, list[StoredEvent]] = {}
        for event in events:
            by_project.setdefault(event.project_id, []).append(event)
        for project_id, project_events in by_project.items():
            for subscription in self._subscribers.get(project_id, ()):
                subscription.offer(project_events)

    def close_all(self, code: int, reason: str) -> None:
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.close(code, reason)

    async def wait_until_empty(self) -> None:
        """Return once every subscription has ended (its connection closed)."""
        while self._subscribers:
            await self._changed.wait()

    def subscriber_count(self, project_id: str) -> int:
        return len(self._subscribers.get(project_id, ()))

    async def wait_for_subscribers(self, project_id: str, count: int) -> None:
        """Return once ``project_id`` has at least ``count`` subscribers (for tests and benchmarks)."""
        while self.subscriber_count(project_id) < count:
            await self._changed.wait()
