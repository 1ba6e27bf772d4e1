"""Cron schedules through daylight-saving changes: Paris, New York and Lord Howe (a 30-minute change),
spring and autumn. The ticks fired are exactly the ones cronsim yields stepping forward (none missed in the
repeated hour, none doubled), ``next_tick`` is always after now (the scheduler never spins), and after a
clock jump back ``next_at`` shows the tick that will fire."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import FakeAgents, LiveHub, make_settings, serving
from cronsim import CronSim

from orchestra.core.cron import iso, latest_tick, next_tick

# (zone, a UTC time a few hours before its spring change, and before its autumn change)
CHANGES = {
    "Europe/Paris": ("2026-03-28T22:00:00+00:00", "2026-10-24T22:00:00+00:00"),
    "America/New_York": ("2026-03-08T04:00:00+00:00", "2026-10-31T04:00:00+00:00"),
    "Australia/Lord_Howe": ("2026-04-04T12:00:00+00:00", "2026-10-03T12:00:00+00:00"),
}
EXPRESSIONS = ["*/15 * * * *", "30 2 * * *", "0 2 * * *", "45 1 * * *", "0 * * * *", "* * * * *", "15,45 1-3 * * *"]
HOURS = 10


def forward(expression: str, start: float, end: float, zone: ZoneInfo) -> list[float]:
    """cronsim's ticks after ``start`` up to ``end``, stepping forward: the reference."""
    found = []
    for tick in CronSim(expression, datetime.fromtimestamp(start, zone)):
        if tick.timestamp() > end:
            return found
        if tick.timestamp() > start:
            found.append(tick.timestamp())
    return found


def scheduled(expression: str, start: float, end: float, zone: ZoneInfo, step: float | None) -> tuple[list[float], int]:
    """What the scheduler's rule fires between ``start`` and ``end``: the latest tick when it is newer than
    the last one handled. ``step`` None: it wakes at each ``next_tick`` (as the scheduler does); else it
    looks every ``step`` seconds. Also returns the number of wake-ups."""
    fired: list[float] = []
    handled = now = start
    wakes = 0
    while now <= end + (step or 0):  # polling: one look after the end too, to see a tick at the end
        tick = latest_tick(expression, now, zone)
        if tick > handled:
            fired.append(tick)
            handled = tick
        following = next_tick(expression, max(now, handled), zone)
        assert following > now, (expression, iso(now, zone))  # never a wake-up in the past: no busy loop
        now = following if step is None else now + step
        wakes += 1
    return [t for t in fired if t <= end], wakes


@pytest.mark.parametrize("zone_name", sorted(CHANGES))
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_ticks_through_both_changes_equal_cronsims(zone_name: str, expression: str) -> None:
    zone = ZoneInfo(zone_name)
    for before in CHANGES[zone_name]:
        start = datetime.fromisoformat(before).timestamp()
        end = start + HOURS * 3600
        expected = forward(expression, start, end, zone)
        woken, wakes = scheduled(expression, start, end, zone, None)
        assert woken == expected, [iso(t, zone) for t in set(woken) ^ set(expected)]
        assert wakes <= len(expected) + 1  # one wake-up per tick
        polled, _ = scheduled(expression, start, end, zone, 37.0)  # a hub that looks at odd moments
        assert polled == expected, [iso(t, zone) for t in set(polled) ^ set(expected)]


def test_the_repeated_hour_keeps_its_fold() -> None:
    paris = ZoneInfo("Europe/Paris")
    second_pass = datetime(2026, 10, 25, 2, 10, tzinfo=paris, fold=1).timestamp()  # 02:10+01:00
    # a daily 02:30 ran in the first pass (02:30+02:00): the next is tomorrow's, never one in the past
    assert iso(next_tick("30 2 * * *", second_pass, paris), paris) == "2026-10-26T02:30:00+01:00"
    assert iso(latest_tick("30 2 * * *", second_pass + 1800, paris), paris) == "2026-10-25T02:30:00+02:00"
    # every 15 minutes runs in both passes
    assert iso(next_tick("*/15 * * * *", second_pass, paris), paris) == "2026-10-25T02:15:00+01:00"
    assert iso(latest_tick("*/15 * * * *", second_pass, paris), paris) == "2026-10-25T02:00:00+01:00"


# -- on a real hub, its clock a file the test moves -----------------------------------------------------


def set_clock(path: Path, when: float) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(str(when))
    os.replace(temporary, path)


@asynccontextmanager
async def clocked(tmp_path: Path, agents: FakeAgents, zone: str, start: float) -> AsyncIterator[tuple[LiveHub, Path]]:
    clock = tmp_path / "clock"
    set_clock(clock, start)
    async with serving(make_settings(tmp_path, agents, clock_file=clock, timezone=zone)) as live:
        yield live, clock


async def scheduled_project(live: LiveHub, name: str, cron: str) -> tuple[str, dict[str, Any]]:
    pid = (await live.create_project(name=name))["id"]
    await live.create_node(pid, id="tick", prompt="tick")
    created = await live.post(f"/projects/{pid}/schedules", {"cron": cron})
    assert created.status_code == 201, created.text
    return pid, created.json()


async def runs_of(live: LiveHub, pid: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = (await live.get("/runs", params={"project_id": pid})).json()["runs"]
    return runs


async def wait_for_ticks(live: LiveHub, pid: str, ticks: list[str]) -> None:
    async def fired() -> list[str]:
        return sorted(run["trigger"]["tick"] for run in await runs_of(live, pid))

    await live.wait_for(pid, lambda found: found == sorted(ticks), fired)


async def test_a_hub_through_the_autumn_night_fires_every_tick_once_and_does_not_spin(
        tmp_path: Path, agents: FakeAgents) -> None:
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 10, 25, 0, 50, tzinfo=paris).timestamp()
    end = datetime(2026, 10, 25, 3, 20, tzinfo=paris).timestamp()
    async with clocked(tmp_path, agents, "Europe/Paris", start) as (live, clock):
        quarter, _ = await scheduled_project(live, "quarterly", "*/15 * * * *")
        daily, _ = await scheduled_project(live, "daily", "30 2 * * *")
        expected = {pid: forward(cron, start, end, paris) for pid, cron in ((quarter, "*/15 * * * *"),
                                                                             (daily, "30 2 * * *"))}
        scheduler = live.running.scheduler
        moments = sorted({t + 20 for ticks in expected.values() for t in ticks}
                         | {start + minutes * 60 for minutes in range(5, 160, 7)})  # and odd moments between
        repeated = [m for m in moments if datetime.fromtimestamp(m, paris).fold == 1]
        passes_before = 0
        for moment in moments:
            if moment == repeated[0]:
                passes_before = scheduler.passes
            set_clock(clock, moment)
            for pid, ticks in expected.items():
                await wait_for_ticks(live, pid, [iso(t, paris) for t in ticks if t <= moment])
            if moment == repeated[-1]:
                passes_in_repeated_hour = scheduler.passes - passes_before
        # the scheduler looked once per clock move (and per schedule change, per fired tick), never in a loop
        assert passes_in_repeated_hour <= 3 * len(repeated), (passes_in_repeated_hour, len(repeated))
        fired = sorted(run["trigger"]["tick"] for run in await runs_of(live, quarter))
        assert "2026-10-25T02:00:00+01:00" in fired and "2026-10-25T02:45:00+02:00" in fired
        assert len(fired) == len(set(fired)) == len(expected[quarter])
        assert sorted(run["trigger"]["tick"] for run in await runs_of(live, daily)) == ["2026-10-25T02:30:00+02:00"]
        listed = (await live.get(f"/projects/{daily}/schedules")).json()["schedules"][0]
        assert listed["next_at"] == "2026-10-26T02:30:00+01:00"


async def test_next_at_after_a_clock_jump_back_is_a_tick_that_will_fire(tmp_path: Path, agents: FakeAgents) -> None:
    utc = ZoneInfo("UTC")
    noon = datetime(2026, 6, 1, 12, 0, 30, tzinfo=utc).timestamp()
    async with clocked(tmp_path, agents, "UTC", noon) as (live, clock):
        pid, created = await scheduled_project(live, "minutely", "* * * * *")
        assert created["next_at"] == "2026-06-01T12:01:00+00:00"
        set_clock(clock, noon + 40)  # 12:01:10
        await wait_for_ticks(live, pid, ["2026-06-01T12:01:00+00:00"])
        set_clock(clock, noon - 600)  # the clock jumps back ten minutes: ticks up to 12:01 are handled
        listed = (await live.get(f"/projects/{pid}/schedules")).json()["schedules"][0]
        assert listed["next_at"] == "2026-06-01T12:02:00+00:00"  # not 11:51, which would not fire
        set_clock(clock, noon + 95)  # 12:02:05
        await wait_for_ticks(live, pid, ["2026-06-01T12:01:00+00:00", "2026-06-01T12:02:00+00:00"])
        assert iso(noon + timedelta(minutes=1).total_seconds(), utc) == "2026-06-01T12:01:30+00:00"
