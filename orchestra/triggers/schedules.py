"""Launch projects on cron schedules, in the hub's time zone, never twice for one tick.

Each schedule keeps ``last_tick``, the latest tick it handled. A pass of the :class:`Scheduler` looks
at every schedule: when the latest tick at or before now is newer than ``last_tick`` (and than the
schedule itself), it launches once for that tick. The run and the new ``last_tick`` are stored in
one transaction that refuses a tick already handled, so a tick starts at most one run, across
restarts too. A launch that fails (a missing input, a deleted node) still uses up its tick; the
reason is kept in ``last_error``.

Ticks missed while the hub was down: the first pass after the start fires the *latest* of them once,
and skips the older ones (a schedule catches up, it does not replay a night of ticks).

Cron expressions have the five standard fields (minute hour day-of-month month day-of-week),
parsed and stepped by cronsim (which also takes ``L``, ``W`` and ``#``, and Debian cron's rules for
daylight saving time). The time comes from a :class:`Clock`: the system's, or for tests a file
(``ORCHESTRA_CLOCK_FILE``) so that a test moves time tick by tick without waiting for real minutes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlite_utils
import trio

from orchestra.core.cron import iso, latest_tick, next_tick, next_ticks
from orchestra.core.errors import ApiError, Conflict, NotFound
from orchestra.core.rows import LaunchedRun
from orchestra.core.settings import Settings
from orchestra.runtime import commands
from orchestra.storage import definitions, store
from orchestra.storage.db import Database, WriteJobContext, fetch_rows

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR_S = 5.0
UPCOMING = 5  # fire times a schedule lists ahead (next_times), for a person to check the cron
SYSTEM_CLOCK_LOOK_AGAIN_S = 60.0  # the wall clock can jump (suspend, NTP): never sleep longer on it
FILE_CLOCK_POLL_S = 0.02


def hub_timezone(name: str | None) -> tzinfo:
    """``ORCHESTRA_TIMEZONE``, else ``TZ`` when it names a zone, else the system's (/etc/localtime),
    else UTC. Blocking (reads a file)."""
    if name:
        return ZoneInfo(name)
    try:
        return ZoneInfo(os.environ["TZ"].lstrip(":"))
    except (KeyError, ZoneInfoNotFoundError, ValueError):
        pass
    try:  # a link into the zone database names its zone (Europe/Paris): that is what the API shows
        return ZoneInfo(os.path.realpath("/etc/localtime").split("/zoneinfo/", 1)[1])
    except (IndexError, ZoneInfoNotFoundError, ValueError):
        pass
    try:
        with open("/etc/localtime", "rb") as local:
            return ZoneInfo.from_file(local, key="localtime")
    except (OSError, ValueError):
        return ZoneInfo("UTC")


# -- clocks ---------------------------------------------------------------------------------------


class Clock(Protocol):
    async def now(self) -> float: ...

    async def sleep_until(self, when: float) -> None: ...


class SystemClock:
    async def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        while (left := when - time.time()) > 0:  # noqa: ASYNC110 (the wall clock is what it waits for)
            await trio.sleep(min(left, SYSTEM_CLOCK_LOOK_AGAIN_S))


class FileClock:
    """The time is the number in a file (epoch seconds), looked at every 20 ms: for tests."""

    def __init__(self, path: Path) -> None:
        self.path = trio.Path(path)

    async def now(self) -> float:
        return float(await self.path.read_text())

    async def sleep_until(self, when: float) -> None:
        while await self.now() < when:  # noqa: ASYNC110 (a file changes without telling anyone)
            await trio.sleep(FILE_CLOCK_POLL_S)


# -- storage --------------------------------------------------------------------------------------


def _present(row: dict[str, Any], now: float, zone: tzinfo) -> dict[str, Any]:
    row["inputs"] = json.loads(row["inputs"]) if row["inputs"] else {}
    row["node_ids"] = json.loads(row["node_ids"]) if row["node_ids"] else None
    row["enabled"] = bool(row.get("enabled", 1))
    upcoming = next_ticks(row["cron"], max(now, _handled(row)), zone, UPCOMING)
    row["next_at"] = upcoming[0] if row["enabled"] else None
    row["next_times"] = upcoming if row["enabled"] else []
    row["last_tick"] = iso(row["last_tick"], zone) if row["last_tick"] is not None else None
    return row


def _handled(schedule: dict[str, Any]) -> float:
    """The time up to which the schedule's ticks are handled: after a clock jump back, the ticks up to
    there do not fire again, so the next one that will fire (``next_at``, the scheduler's wake-up) is
    the first after it."""
    last = schedule["last_tick"]
    return float(last if isinstance(last, int | float) else schedule["created_at"])


def list_schedules(db: sqlite_utils.Database, project_id: str, now: float, zone: tzinfo) -> list[dict[str, Any]]:
    store.require_project(db, project_id)
    rows = fetch_rows(db, "SELECT * FROM schedules WHERE project_id = ? ORDER BY created_at, id", [project_id])
    return [_present(row, now, zone) for row in rows]


def insert_schedule(tx: WriteJobContext, project_id: str, fields: dict[str, Any], now: float,
                    zone: tzinfo) -> dict[str, Any]:
    """A new schedule; ``now`` is the scheduler's clock, so its first tick is the first after now."""
    schedule_id = definitions.insert_schedule(tx, project_id, fields["cron"], fields.get("inputs"),
                                              fields.get("node_ids"), now)
    return _present(fetch_rows(tx.db, "SELECT * FROM schedules WHERE id = ?", [schedule_id])[0], now, zone)


def update_schedule(tx: WriteJobContext, schedule_id: str, fields: dict[str, Any], now: float,
                    zone: tzinfo) -> dict[str, Any]:
    """Change a schedule's cron, inputs, nodes or ``enabled``. Enabling it again (or a new cron) counts
    from ``now``: the ticks it missed while off do not fire on the way back."""
    rows = fetch_rows(tx.db, "SELECT * FROM schedules WHERE id = ?", [schedule_id])
    if not rows:
        raise NotFound(f"schedule '{schedule_id}' does not exist")
    changes: dict[str, Any] = {}
    if "cron" in fields:
        changes["cron"] = fields["cron"]
    if "inputs" in fields:
        changes["inputs"] = json.dumps(fields["inputs"]) if fields["inputs"] else None
    if "node_ids" in fields:
        changes["node_ids"] = json.dumps(fields["node_ids"]) if fields["node_ids"] else None
    if "enabled" in fields:
        changes["enabled"] = int(fields["enabled"])
    if (changes.get("enabled") == 1 and not rows[0]["enabled"]) or "cron" in changes:
        changes["last_tick"] = max(now, _handled(rows[0]))
    definitions.update_schedule(tx, schedule_id, changes)
    return _present(fetch_rows(tx.db, "SELECT * FROM schedules WHERE id = ?", [schedule_id])[0], now, zone)


# -- the scheduler --------------------------------------------------------------------------------

Launcher = Callable[[str, commands.Launch], Awaitable[LaunchedRun]]


class Scheduler:
    """Fires due ticks, then sleeps until the next one (or until a schedule is added or deleted)."""

    def __init__(self, db: Database, launch: Launcher, zone: tzinfo, clock: Clock) -> None:
        self.db = db
        self.launch = launch
        self.zone = zone
        self.clock = clock
        self._changed = False
        self._sleep: trio.CancelScope | None = None
        self._running = trio.CancelScope()
        self.passes = 0  # passes over the schedules since the start: a test sees the scheduler does not spin

    def changed(self) -> None:
        """A schedule was added or deleted: look again now."""
        self._changed = True
        if self._sleep is not None:
            self._sleep.cancel()

    @classmethod
    async def for_settings(cls, settings: Settings, db: Database, launch: Launcher) -> Scheduler:
        zone = await trio.to_thread.run_sync(hub_timezone, settings.timezone)
        return cls(db, launch, zone, FileClock(settings.clock_file) if settings.clock_file else SystemClock())

    def stop(self) -> None:
        """No tick fires after this: the hub is stopping."""
        self._running.cancel()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until stopped; ready once the first pass (the catch-up after a start) is done."""
        with self._running:
            await self._serve(task_status)

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        ready = False
        while True:
            self._changed = False
            try:
                wake_at: float | None = await self._fire_due()
            except Exception:  # storage, or an unreadable clock file: never the hub's end; look again soon
                log.exception("a pass over the schedules failed")
                wake_at = None
            if not ready:
                task_status.started()
                ready = True
            if not self._changed:
                await self._wait(wake_at)

    async def _wait(self, wake_at: float | None) -> None:
        """Until ``wake_at`` (None: a little while, after an error), or until a schedule changes."""
        try:
            with trio.CancelScope() as self._sleep:
                if wake_at is None:
                    await trio.sleep(RETRY_AFTER_ERROR_S)
                elif wake_at < math.inf:
                    await self.clock.sleep_until(wake_at)
                else:  # no schedule at all
                    await trio.sleep_forever()
        except Exception:
            log.exception("the schedules' clock failed")
            await trio.sleep(RETRY_AFTER_ERROR_S)
        finally:
            self._sleep = None

    async def _fire_due(self) -> float:
        """Launch each schedule whose latest tick is due; return when the next tick of any is."""
        self.passes += 1
        now = await self.clock.now()
        schedules = await self.db.read(lambda db: fetch_rows(db, "SELECT * FROM schedules ORDER BY created_at"))
        wake_at = math.inf
        for schedule in schedules:
            if not schedule["enabled"]:
                continue
            tick = latest_tick(schedule["cron"], now, self.zone)
            handled = _handled(schedule)
            if tick > handled:
                await self._fire(schedule, tick)
                handled = tick
            wake_at = min(wake_at, next_tick(schedule["cron"], max(now, handled), self.zone))
        return wake_at

    async def _fire(self, schedule: dict[str, Any], tick: float) -> None:
        schedule_id = schedule["id"]
        trigger = {"kind": "schedule", "schedule_id": schedule_id, "tick": iso(tick, self.zone)}
        command = commands.Launch(
            json.loads(schedule["node_ids"]) if schedule["node_ids"] else None, None,
            json.loads(schedule["inputs"]) if schedule["inputs"] else {}, trigger,
            claim=lambda tx, run_id: definitions.claim_tick(tx, schedule_id, tick, run_id, None))
        try:
            launched = await self.launch(schedule["project_id"], command)
        except ApiError as exc:
            reason = exc.message
            log.warning("schedule %s could not launch its tick %s: %s", schedule_id, trigger["tick"], reason)
            try:
                await self.db.write(lambda tx: definitions.claim_tick(tx, schedule_id, tick, None, reason))
            except Conflict:
                pass  # already handled (or the schedule was deleted meanwhile)
            return
        log.info("schedule %s launched run %s for its tick %s", schedule_id, launched["run_id"], trigger["tick"])
