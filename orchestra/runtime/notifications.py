"""Notifications through apprise: the hub tells a person when something waits for them (a gate, a pick,
a plan review), when a run finishes (its status, cost and duration), when an execution is parked at a
usage limit, and when a restart interrupted executions. Each message links to the item in the UI.

Where they go: ``ORCHESTRA_NOTIFY`` (every project) and a project's ``notify`` (its own), apprise URLs.

What they come from: committed events of the hub feed (``run.finished``, ``attention.changed``), read from
the event bus like any subscriber, so no actor or transition knows about notifications; and, once at
start, the executions the restart found interrupted.

Delivery never holds up a run: the event loop only formats the message and puts it, without waiting,
into the bounded queue of each target (full: the message is dropped and counted). One task per target
delivers its queue in order, each attempt in a worker thread (apprise is blocking) bounded by
``ORCHESTRA_NOTIFY_TIMEOUT_S``, three attempts with a back-off; a failure is logged once per failing
streak (and once when the target recovers), and ``/health`` shows each target's counts and last error.
A slow or dead target delays only its own queue, never another target's, and never the next message
beyond its own attempts.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import sqlite_utils
import trio

from orchestra.core.landed import landed_text
from orchestra.core.notify_urls import public_name, split_targets
from orchestra.core.settings import Settings
from orchestra.core.statuses import AttentionKind, ExecutionStatus, HubEventType, RunStatus
from orchestra.storage.db import Database
from orchestra.storage.events import CLOSE_TOO_SLOW, HUB_STREAM, Subscription, SubscriptionClosed

log = logging.getLogger(__name__)

QUEUE_SIZE = 100  # messages waiting per target; more are dropped (and counted)
ATTEMPTS = 3
BACKOFF_S = (1.0, 4.0)  # before the second and the third attempt
DELIVERY_THREADS = 4  # worker threads all targets share: a hung receiver cannot take the database's
FLUSH_S = 2.0  # at shutdown, what is queued has this long to go out
# Executions interrupted this long before the start count as the restart's (a stop records its own at once).
RESTART_WINDOW_S = 600.0


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    link: str
    project_id: str | None


@dataclass
class NotifyTarget:
    url: str
    queue_send: trio.MemorySendChannel[Message]
    queue_receive: trio.MemoryReceiveChannel[Message]
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    last_error: str | None = None
    failing: bool = False

    def status(self) -> dict[str, Any]:
        return {"target": public_name(self.url), "sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "failing": self.failing, "last_error": self.last_error}


def _deliver(url: str, message: Message) -> None:
    """One attempt, in a worker thread; raises with apprise's reason when it was not delivered."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        raise RuntimeError("apprise does not accept this URL")
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = _Collect()
    apprise_log = logging.getLogger("apprise")
    apprise_log.addHandler(handler)
    try:
        delivered = sender.notify(title=message.title, body=message.body)
    finally:
        apprise_log.removeHandler(handler)
    if not delivered:
        raise RuntimeError(messages[-1] if messages else "not delivered")


class Notifier:
    """Formats messages from the hub feed and hands them to each target's queue (see the module docstring)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._targets: dict[str, NotifyTarget] = {}
        self._nursery: trio.Nursery | None = None
        self._threads = trio.CapacityLimiter(DELIVERY_THREADS)
        self._scope = trio.CancelScope()
        self._stopped = False

    def health(self) -> dict[str, Any]:
        """What ``/health`` shows (to a caller with the token): each target's counts, without its secrets."""
        return {"targets": [target.status() for target in self._targets.values()]}

    async def run(self, started_at: float, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the hub feed until :meth:`stop`; first say what the restart at ``started_at`` interrupted."""
        # Loaded here, in a thread (~0.1 s): a project's notify URLs are checked with it on the event loop later.
        await trio.to_thread.run_sync(importlib.import_module, "apprise")
        with self._scope:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for url in split_targets(self.settings.notify):
                    self._target(url)
                task_status.started()
                await self._announce_restart(started_at)
                while not self._stopped:
                    with self.db.bus.subscribe(HUB_STREAM, max_pending=10_000) as subscription:
                        await self._follow(subscription)

    async def _follow(self, subscription: Subscription) -> None:
        while True:
            try:
                batch = await subscription.next_batch(1_000)
            except SubscriptionClosed as closed:
                if closed.code == CLOSE_TOO_SLOW:  # a burst: go on from now (what was missed is not said)
                    log.warning("notifications fell behind the hub feed; some were not sent: %s", closed.reason)
                else:  # the hub stops
                    self.stop()
                return
            for event in batch:
                await self._on_event(json.loads(event.body))

    def stop(self) -> None:
        """No new messages; what is queued has FLUSH_S to go out, then delivery is cancelled."""
        if self._stopped:
            return
        self._stopped = True
        for target in self._targets.values():
            target.queue_send.close()
        self._scope.deadline = min(self._scope.deadline, trio.current_time() + FLUSH_S)

    def _target(self, url: str) -> NotifyTarget:
        target = self._targets.get(url)
        if target is None:
            send, receive = trio.open_memory_channel[Message](QUEUE_SIZE)
            target = self._targets[url] = NotifyTarget(url, send, receive)
            assert self._nursery is not None
            self._nursery.start_soon(self._serve_target, target)
        return target

    def send(self, message: Message, project_notify: str | None = None) -> None:
        """Queue ``message`` for every global target and the project's own; never waits."""
        if self._stopped:
            return
        for url in [*split_targets(self.settings.notify), *split_targets(project_notify)]:
            target = self._target(url)
            try:
                target.queue_send.send_nowait(message)
            except trio.WouldBlock:
                target.dropped += 1
                if target.dropped == 1 or math.log2(target.dropped).is_integer():
                    log.warning("notification target %s is %d messages behind: %d dropped so far",
                                public_name(url), QUEUE_SIZE, target.dropped)

    async def _serve_target(self, target: NotifyTarget) -> None:
        async for message in target.queue_receive:
            await self._deliver_with_retries(target, message)

    async def _deliver_with_retries(self, target: NotifyTarget, message: Message) -> None:
        error = "not attempted"
        for attempt in range(ATTEMPTS):
            if attempt:
                await trio.sleep(BACKOFF_S[attempt - 1])
            with trio.move_on_after(self.settings.notify_timeout_s):
                try:
                    # Abandoned on timeout: the thread ends at apprise's own timeout; it writes nothing of ours.
                    await trio.to_thread.run_sync(_deliver, target.url, message, abandon_on_cancel=True,
                                                  limiter=self._threads)
                except Exception as exc:
                    error = str(exc) or type(exc).__name__
                else:
                    target.sent += 1
                    if target.failing:
                        target.failing = False
                        log.info("notification target %s delivers again", public_name(target.url))
                    return
                continue
            error = f"no answer within {self.settings.notify_timeout_s:g} s"
        target.failed += 1
        target.last_error = error
        if not target.failing:
            target.failing = True
            log.warning("notification to %s failed after %d attempts: %s (logged once until it delivers again)",
                        public_name(target.url), ATTEMPTS, error)

    # -- what is said -----------------------------------------------------------------------------

    def _link(self, project_id: str, **ids: str | None) -> str:
        params = "&".join(f"{key}={value}" for key, value in {"project": project_id, **ids}.items() if value)
        return f"{self.settings.ui_link_base}#{params}"

    async def _project(self, project_id: str) -> tuple[str, str | None]:
        def read(db: sqlite_utils.Database) -> tuple[str, str | None]:
            row = db.execute("SELECT name, notify FROM projects WHERE id = ?", [project_id]).fetchone()
            return (row[0], row[1]) if row else (project_id, None)

        return await self.db.read(read)

    async def _on_event(self, event: dict[str, Any]) -> None:
        project_id = event["project_id"]
        if event["type"] == HubEventType.RUN_FINISHED:
            project = event.get("project") or {}
            message = run_finished_message(event["run"], project.get("name", project_id),
                                           self._link(project_id, run=event["run_id"]))
            self.send(message, project.get("notify"))
        elif event["type"] == HubEventType.ATTENTION_CHANGED and "added" in event:
            item = event["added"]
            if item["kind"] == AttentionKind.FAILED_RUN:  # said by run.finished
                return
            name, notify = await self._project(project_id)
            link = self._link(project_id, run=item["run_id"], execution=item.get("execution_id"))
            self.send(waiting_message(item, name, link), notify)

    async def _announce_restart(self, started_at: float) -> None:
        def read(db: sqlite_utils.Database) -> list[tuple[str, str, str, str | None]]:
            return list(db.execute(
                "SELECT e.project_id, p.name, e.node_id, p.notify FROM executions e JOIN projects p ON "
                "p.id = e.project_id WHERE e.status = ? AND e.finished_at >= ? ORDER BY e.num",
                [ExecutionStatus.INTERRUPTED, started_at - RESTART_WINDOW_S]).fetchall())

        rows = await self.db.read(read)
        by_project: dict[str, list[tuple[str, str, str, str | None]]] = {}
        for row in rows:
            by_project.setdefault(row[0], []).append(row)
        for project_id, interrupted in by_project.items():
            name, notify = interrupted[0][1], interrupted[0][3]
            nodes = ", ".join(sorted({row[2] for row in interrupted}))
            self.send(Message(f"Orchestra restarted: {len(interrupted)} execution(s) of {name} interrupted",
                              f"Project: {name}\nInterrupted: {nodes}\nThe hub stopped while they ran; launch them "
                              f"again from the UI.\nOpen: {self._link(project_id)}",
                              self._link(project_id), project_id), notify)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def run_finished_message(run: dict[str, Any], project_name: str, link: str) -> Message:
    status = run["status"]
    took = _duration((run.get("finished_at") or time.time()) - (run.get("started_at") or run["created_at"]))
    cost = (run.get("totals") or {}).get("cost_usd") or 0.0
    mark = "✓" if status == RunStatus.SUCCEEDED else "✗"
    body = [f"Project: {project_name}", f"Run: {run['id']} {status} in {took}, cost ${cost:.4f}"]
    if run.get("error"):
        body.append(f"Error: {run['error']}")
    if run.get("landed"):  # a land node merged, pushed or opened a pull request
        body.append(f"Landed: {landed_text(run['landed'])}")
    body.append(f"Open: {link}")
    return Message(f"{mark} {project_name}: run {status}", "\n".join(body), link, run["project_id"])


_WAITS_FOR = {AttentionKind.GATE: "a decision at a gate", AttentionKind.PICK: "a pick among candidates",
              AttentionKind.PLAN_REVIEW: "a plan review"}


def waiting_message(item: dict[str, Any], project_name: str, link: str) -> Message:
    node = item.get("node_id") or "?"
    if item.get("node_title") and item["node_title"] != node:
        node += f" ({item['node_title']})"
    lines = [f"Project: {project_name}", f"Node: {node}", f"Run: {item['run_id']}"]
    if item["kind"] == AttentionKind.PARKED:
        at = item.get("resume_at")
        when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(at)) if at else "after a back-off"
        title = f"⏸ {project_name}: {item.get('node_id')} parked at a usage limit"
        lines.append(f"Resumes at {when} (or resume it now from the UI)")
    else:
        title = f"⏳ {project_name}: {item.get('node_id')} waits for {_WAITS_FOR.get(item['kind'], 'you')}"
        lines.append(f"Answer: orchestra {'pick' if item['kind'] == AttentionKind.PICK else 'approve'} "
                     f"{item.get('execution_id')}" + (" CANDIDATE" if item["kind"] == AttentionKind.PICK else ""))
    lines.append(f"Open: {link}")
    return Message(title, "\n".join(lines), link, item["project_id"])
