"""The event-loop lag guard: a hub whose loop is held shows it in ``/health`` and logs a warning saying
what ran (the loop thread's stack, sampled while it was stuck)."""

from __future__ import annotations

import logging
import time

import pytest
import trio
from conftest import LiveHub

BLOCK_S = 1.5


def hold_the_loop() -> None:
    """What a backtracking regex on the loop used to do: keep it for seconds (Python code, so sampled)."""
    deadline = time.monotonic() + BLOCK_S
    while time.monotonic() < deadline:
        pass


async def test_a_held_loop_shows_in_health_and_the_log_names_what_ran(
        hub: LiveHub, caplog: pytest.LogCaptureFixture) -> None:
    quiet = (await hub.get("/health")).json()["loop_lag_ms"]
    assert quiet["late_ticks"] == 0 and quiet["worst_recent"] < 1000 and quiet["window_s"] == 60
    caplog.set_level(logging.WARNING, logger="orchestra.system.loop_lag")
    hold_the_loop()  # the hub shares this test's loop
    with trio.fail_after(10):
        while (lag := (await hub.get("/health")).json()["loop_lag_ms"])["late_ticks"] == 0:
            pass  # each answer is a pass of the loop; the guard's late tick runs among them
    assert lag["worst_recent"] >= 1000, lag
    warnings = [r.getMessage() for r in caplog.records if r.name == "orchestra.system.loop_lag"]
    assert len(warnings) == 1 and "the event loop was blocked for " in warnings[0], warnings
    assert "hold_the_loop" in warnings[0], warnings[0]  # the sampled stack says what ran
