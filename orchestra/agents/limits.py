"""Usage and rate limits as the agent CLIs report them, and when they say the limit resets.

A CLI that hits its account's limit ends with an error like any other, but the hub must not fail the
node for it: it parks the execution until the limit resets (orchestra/runtime/parking.py). The
parsers note a limit with ``AgentParser.note_limit`` when they see one of these, recorded from the real
CLIs (tests/fixtures/agent-transcripts/*-limit*, tests/record_limits.py):

- Claude Code: a ``rate_limit_event`` whose ``status`` is ``rejected`` (or ``denied``) with ``resetsAt``
  (a subscription); an API-error message or result with ``api_error_status`` 429 (an API key's
  ``rate_limit_error``); the result texts "You've hit your 5-hour limit · resets 7:16pm (UTC)" and
  the older "Claude AI usage limit reached|1750708800".
- Codex CLI: "You've hit your usage limit. … try again at 7:16 PM." (a ChatGPT plan) and
  "exceeded retry limit, last status: 429 Too Many Requests" (an API key).
- Gemini CLI: "You exceeded your current quota … Please retry in 11817.001s." and "You have exhausted
  your daily quota on this model." (with the retry delay on stderr).

All of it is untrusted text: every scan here is ``str.find`` or an anchored regex with bounded
repetitions applied at one position (no backtracking over the input), over at most ``SCAN_CHARS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

#: How much of one message or of stderr's end is scanned for a limit and its reset time.
SCAN_CHARS = 8 * 1024
#: Reset times further away than this are not believed (a garbled number): the hub backs off instead.
MAX_WAIT_S = 8 * 24 * 3600

#: Phrases (lower case) that mean a usage or rate limit in a built-in CLI's error message.
LIMIT_PHRASES = ("rate limit", "rate_limit", "usage limit", "usage_limit", "hit your limit", "hit your usage limit",
                 "hit your 5-hour limit", "hit your weekly limit", "quota", "resource_exhausted", "429",
                 "too many requests")

# Anchored at the position where they are applied (``match``), each repetition bounded: linear time.
_NUMBER = re.compile(r"(\d{1,9})(?:\.(\d{1,6}))?\s{0,3}"
                     r"(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)\b", re.IGNORECASE)
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?\s{0,2}([ap]\.?m\.?)?", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class UsageLimit:
    """A limit the CLI hit: its own words, and when it said the limit resets (None: it did not say)."""

    message: str
    resets_at: float | None = None


def mentions_limit(text: str) -> bool:
    """Whether an error message of a built-in CLI speaks of a usage/rate limit."""
    lowered = text[:SCAN_CHARS].lower()
    return any(phrase in lowered for phrase in LIMIT_PHRASES)


def matches_any(text: str, patterns: tuple[str, ...]) -> bool:
    """A template's own limit patterns: case-insensitive substrings (no regex: agent output is untrusted)."""
    if not patterns:
        return False
    lowered = text[:SCAN_CHARS].lower()
    return any(pattern in lowered for pattern in patterns)


def reset_time(text: str, now: datetime) -> float | None:
    """When ``text`` says the limit resets, as epoch seconds; None when it does not say (believably).

    Understood: "…|1750708800" (an epoch after a bar), "retry in 30s" / "try again in 3 hours 17
    minutes" / "retry after 30s" (a delay), "resets 7:16pm (UTC)" / "resets 4pm (Asia/Kuala_Lumpur)" /
    "try again at 7:16 PM" (a clock time, the next one to come, in the named zone or local time).
    """
    text = text[:SCAN_CHARS]
    lowered = text.lower()
    for found in (_epoch_after_bar(text, now), _delay(lowered, now), _clock(text, lowered, now)):
        if found is not None and now.timestamp() - 60 <= found <= now.timestamp() + MAX_WAIT_S:
            return found
    return None


def _epoch_after_bar(text: str, now: datetime) -> float | None:
    marker = text.find("limit reached|")
    if marker < 0:
        return None
    digits = text[marker + len("limit reached|"):][:12]
    end = next((i for i, ch in enumerate(digits) if not ch.isdigit()), len(digits))
    return float(digits[:end]) if 9 <= end <= 11 else None


def _delay(lowered: str, now: datetime) -> float | None:
    for phrase in ("retry in ", "try again in ", "retry after ", "retry-after: ", "retrydelay\": \"", "resets in "):
        start = lowered.find(phrase)
        if start < 0:
            continue
        position, seconds = start + len(phrase), 0.0
        for _ in range(4):  # "3 hours 17 minutes", "1h 2m 3s"
            match = _NUMBER.match(lowered, position)
            if match is None:
                break
            whole, fraction, unit = match.groups()
            value = float(f"{whole}.{fraction}" if fraction else whole)
            unit = unit.lower()
            key = "ms" if unit.startswith("ms") or unit.startswith("milli") else unit[0]
            seconds += value * _UNIT_SECONDS[key]
            position = match.end()
            while position < len(lowered) and lowered[position] in " ,and":
                position += 1
        if seconds > 0:
            return now.timestamp() + seconds
    return None


def _clock(text: str, lowered: str, now: datetime) -> float | None:
    for phrase in ("resets ", "try again at ", "reset at ", "resets at "):
        start = lowered.find(phrase)
        if start < 0:
            continue
        position = start + len(phrase)
        if lowered.startswith("at ", position):
            position += 3
        match = _CLOCK.match(lowered, position)
        if match is None or not (match.group(2) or match.group(3)):
            continue  # a bare number is no clock time
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        meridiem = (match.group(3) or "").replace(".", "")
        if meridiem:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if meridiem == "pm" else 0)
        if hour > 23 or minute > 59:
            continue
        zone = _zone_after(text, match.end()) or now.astimezone().tzinfo
        local_now = now.astimezone(zone)
        at = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= local_now - timedelta(minutes=1):
            at += timedelta(days=1)
        return at.timestamp()
    return None


def _zone_after(text: str, position: int) -> tzinfo | None:
    """The time zone in "(Asia/Kuala_Lumpur)" right after a clock time, if it names a known one."""
    rest = text[position:position + 64].lstrip()
    if not rest.startswith("("):
        return None
    end = rest.find(")")
    name = rest[1:end].strip() if end > 0 else ""
    if not name or not all(ch.isalnum() or ch in "/_+-" for ch in name):
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return None
