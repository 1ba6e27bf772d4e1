"""The event loop's own lag, measured: a guard that the rule "nothing blocks the loop" holds.

Every project, request and agent shares one trio loop. :class:`LoopLag` runs a task that sleeps 100 ms
at a time and records how much later than asked it woke (the loop's lag: the longest step of any other
task in between). ``/health`` shows the worst lag of the last minute. A watchdog thread looks every
100 ms at when the task last woke; while the loop is stuck for over a second it takes one sample of
the loop thread's stack (``sys._current_frames``), and the task, once it runs again, logs a warning
with the lag and that stack: what ran. (Code that blocks inside one C call holding the GIL cannot be
sampled until it returns; the warning then says so.)
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections import deque
from typing import Any

import trio

log = logging.getLogger(__name__)

TICK_S = 0.1
WARN_LATE_S = 1.0
WINDOW_S = 60.0
_STACK_FRAMES = 8


class LoopLag:
    def __init__(self, *, tick_s: float = TICK_S, warn_late_s: float = WARN_LATE_S,
                 window_s: float = WINDOW_S) -> None:
        self.tick_s = tick_s
        self.warn_late_s = warn_late_s
        self.window_s = window_s
        self.late_ticks = 0  # ticks later than warn_late_s since the start
        self._recent: deque[tuple[float, float]] = deque()  # (monotonic time of the tick, its lag in s)
        self._heartbeat = time.monotonic()
        self._sample: str | None = None  # the loop thread's stack, taken while it was stuck
        self._running = trio.CancelScope()

    def stop(self) -> None:
        """End :meth:`run` (the hub is stopping)."""
        self._running.cancel()

    def worst_recent_s(self) -> float:
        horizon = time.monotonic() - self.window_s
        return max((lag for when, lag in self._recent if when >= horizon), default=0.0)

    def report(self) -> dict[str, Any]:
        """What ``/health`` shows as ``loop_lag_ms``."""
        return {"worst_recent": round(self.worst_recent_s() * 1000, 1), "window_s": self.window_s,
                "late_ticks": self.late_ticks}

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick until stopped or cancelled (the watchdog thread ends with it)."""
        with self._running:
            await self._run(task_status)

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        stop = threading.Event()
        watchdog = threading.Thread(target=self._watch, args=(threading.get_ident(), stop),
                                    name="loop-lag-watchdog", daemon=True)
        self._heartbeat = time.monotonic()
        watchdog.start()
        task_status.started()
        try:
            while True:
                asked = time.monotonic() + self.tick_s
                await trio.sleep(self.tick_s)
                self._tick(max(0.0, time.monotonic() - asked))
        finally:
            stop.set()
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(watchdog.join)

    def _tick(self, lag: float) -> None:
        now = time.monotonic()
        self._heartbeat = now
        self._recent.append((now, lag))
        while self._recent and self._recent[0][0] < now - self.window_s:
            self._recent.popleft()
        sample, self._sample = self._sample, None  # a sample belongs to the stall this tick ends
        if lag > self.warn_late_s:
            self.late_ticks += 1
            log.warning("the event loop was blocked for %.1f s (every project, request and agent waited); "
                        "it was running:\n%s", lag,
                        sample or "(no sample: one call held the interpreter the whole time)")

    def _watch(self, loop_thread: int, stop: threading.Event) -> None:
        """In its own thread: one stack sample of the loop thread per stall over ``warn_late_s``."""
        sampled_at = 0.0
        while not stop.wait(self.tick_s):
            beat = self._heartbeat
            if time.monotonic() - beat > self.warn_late_s and sampled_at != beat:
                frame = sys._current_frames().get(loop_thread)
                if frame is not None:
                    self._sample = "".join(traceback.format_stack(frame)[-_STACK_FRAMES:])
                    sampled_at = beat
