"""Cron expressions of the five standard fields, stepped in a time zone (cronsim does the stepping).

Pure functions: the API checks an expression with :func:`check_cron`, the scheduler
(:mod:`orchestra.triggers.schedules`) finds the ticks around "now" with the others. Times are epoch seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError


def check_cron(expression: str) -> str:
    """The expression, or ValueError saying what is wrong with it (for the API's 422)."""
    if len(expression.split()) != 5:
        raise ValueError("needs the five standard fields: minute hour day-of-month month day-of-week")
    try:
        CronSim(expression, datetime.now(ZoneInfo("UTC")))
    except CronSimError as exc:
        raise ValueError(f"is not a valid cron expression: {exc}") from None
    return expression


def latest_tick(expression: str, now: float, zone: tzinfo) -> float:
    """The latest tick at or before ``now`` (epoch seconds)."""
    start = datetime.fromtimestamp(now, zone).replace(microsecond=0) + timedelta(seconds=1)
    return next(CronSim(expression, start, reverse=True)).timestamp()


def next_tick(expression: str, now: float, zone: tzinfo) -> float:
    """The first tick after ``now``."""
    return next(CronSim(expression, datetime.fromtimestamp(now, zone))).timestamp()


def iso(timestamp: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(timestamp, zone).isoformat()
