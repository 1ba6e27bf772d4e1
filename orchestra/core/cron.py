"""Cron expressions of the five standard fields, stepped in a time zone (cronsim does the stepping).

Pure functions: the API checks an expression with :func:`check_cron`, the scheduler
(:mod:`orchestra.triggers.schedules`) finds the ticks around "now" with the others. Times are epoch seconds.

Daylight saving time: the ticks are the ones cronsim yields stepping forward (Debian cron's rules: a
time the spring change skips runs at the change; a time in the autumn's repeated hour runs once, in its
first pass, while ``*/15``-style ticks run in both passes). Both functions work from epoch seconds, so a
local time in the repeated hour keeps its ``fold`` (which pass it is), and both check what cronsim yields
against "now" — :func:`next_tick` is always after now (the scheduler never wakes in a loop) and
:func:`latest_tick` is a tick of the forward sequence (none missed, none fired twice).
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

# Stepping from a local time in a repeated hour may first yield ticks of that hour's first pass (in the
# past): at most one an hour's worth of minutes. A bound, so no expression can make the loops below spin.
_MAX_STEPS = 4 * 60


def check_cron(expression: str) -> str:
    """The expression, or ValueError saying what is wrong with it (for the API's 422)."""
    if len(expression.split()) != 5:
        raise ValueError("needs the five standard fields: minute hour day-of-month month day-of-week")
    try:
        CronSim(expression, datetime.now(ZoneInfo("UTC")))
    except CronSimError as exc:
        raise ValueError(f"is not a valid cron expression: {exc}") from None
    return expression


def next_tick(expression: str, now: float, zone: tzinfo) -> float:
    """The first tick strictly after ``now`` (also when ``now`` is in the second pass of a repeated hour,
    where cronsim may first yield the first pass's tick of the same wall time)."""
    ticks = CronSim(expression, datetime.fromtimestamp(now, zone))
    for _ in range(_MAX_STEPS):
        tick = next(ticks).timestamp()
        if tick > now:
            return tick
    raise ValueError(f"cron expression {expression!r} yields no tick after {now}")


def latest_tick(expression: str, now: float, zone: tzinfo) -> float:
    """The latest tick at or before ``now``: the latest one that stepping forward yields (stepping back
    through a repeated hour also yields its second pass of a daily time, which Debian's rule skips)."""
    ticks = CronSim(expression, datetime.fromtimestamp(math.floor(now) + 1, zone), reverse=True)
    for _ in range(_MAX_STEPS):
        local = next(ticks)
        tick = local.timestamp()
        if tick <= now and (not _repeated(local) or next_tick(expression, tick - 1, zone) == tick):
            return tick
    raise ValueError(f"cron expression {expression!r} yields no tick before {now}")


def _repeated(local: datetime) -> bool:
    """Whether this wall time happens twice (the autumn's repeated hour): only there can stepping back
    yield a tick that stepping forward skips."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def iso(timestamp: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(timestamp, zone).isoformat()
