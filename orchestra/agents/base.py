"""What every output-format parser shares: the AgentReport of a run and the line-by-line feed loop.

An agent CLI's stdout is untrusted text: a line may be JSON of an unknown shape, half a line, binary
garbage or megabytes long. ``feed`` turns each line into zero or more normalized events (plain dicts,
see ``orchestra/agents/__init__.py``) and never raises, so one odd line cannot kill a node. Success is
decided once, in ``finish``, from the CLI's closing event and the exit code together, because the
exit codes lie (Claude exits 1 on a success-shaped result, Gemini exits 0 on a broken stream).
"""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from orchestra.agents.limits import SCAN_CHARS, UsageLimit, matches_any, reset_time

Event = dict[str, Any]
_WORK = frozenset({"text", "thinking", "tool_use"})
Handler = Callable[[dict[str, Any]], list[Event] | None]  # None: a shape we do not know -> raw

#: Cap, in UTF-8 bytes, for raw lines, tool outputs and the text-format result.
MAX_TEXT = 64 * 1024
#: How much of stderr goes into an error message.
STDERR_TAIL_LINES = 3
STDERR_TAIL_CHARS = 500


@dataclass
class AgentReport:
    """What the CLI reported of its run (result text, session id, tokens, cost, error), and whether it
    succeeded: filled in as lines arrive, settled by ``finish``; the hub keeps it with the execution."""

    session_id: str | None = None
    model: str | None = None
    result_text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    final_seen: bool = False
    error: str | None = None
    succeeded: bool | None = None
    #: Set by ``finish`` when the run failed because the CLI hit a usage or rate limit: the hub parks
    #: the execution instead of failing it (see orchestra/agents/limits.py).
    limit: UsageLimit | None = None
    #: The agent did something in this run (text, thinking or a tool call), beyond errors and notices.
    worked: bool = False


def event(kind: str, **fields: Any) -> Event:
    """A normalized event; None values are left out so consumers can test keys."""
    return {"kind": kind, **{k: v for k, v in fields.items() if v is not None}}


def cap(text: str, limit: int = MAX_TEXT) -> tuple[str, int | None]:
    """Cut ``text`` to ``limit`` UTF-8 bytes; returns the text and its original size when cut."""
    if len(text) * 4 <= limit:  # fast path: cannot exceed the limit whatever the characters
        return text, None
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text, None
    return data[:limit].decode("utf-8", "ignore"), len(data)


def tail(text: str, limit: int = MAX_TEXT) -> str:
    """The last ``limit`` UTF-8 bytes of ``text`` (the end of an answer is what matters)."""
    if len(text) * 4 <= limit:
        return text
    data = text.encode("utf-8", "replace")
    return data[-limit:].decode("utf-8", "ignore") if len(data) > limit else text


def raw_event(line: str) -> Event:
    capped, size = cap(line)
    return event("raw", line=capped, truncated=size)


def tool_result(tool_use_id: Any, output: str, is_error: bool, **extra: Any) -> Event:
    capped, size = cap(output)
    return event(
        "tool_result",
        tool_use_id=tool_use_id,
        output=capped,
        truncated=True if size is not None else None,
        is_error=is_error,
        **extra,
    )


def stderr_tail(stderr: str) -> str:
    """The last few non-blank lines of stderr, short enough for an error message."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = " | ".join(lines[-STDERR_TAIL_LINES:])
    return text if len(text) <= STDERR_TAIL_CHARS else "…" + text[-STDERR_TAIL_CHARS:]


def describe_exit(exit_code: int | None) -> str:
    """'exited with code 1', or the signal name for a negative (killed) code."""
    if exit_code is None:
        return "exited with an unknown exit code"
    if exit_code < 0:
        try:
            return f"exited with code {exit_code} ({signal.Signals(-exit_code).name})"
        except ValueError:
            pass
    return f"exited with code {exit_code}"


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class AgentParser:
    """Base class: JSON-lines dispatch on ``type``, failure containment, and the success rule.

    A subclass sets ``output_format`` and ``cli`` and maps each ``type`` it knows to a handler in
    ``handlers()``. Handlers may assume the documented shape: a wrong shape raises inside the
    handler and becomes a ``parser error`` event plus the raw line, never an exception.
    """

    output_format: ClassVar[str]
    cli: ClassVar[str]  # the CLI's name, for messages

    def __init__(self, limit_patterns: tuple[str, ...] = ()) -> None:
        self.report = AgentReport()
        self._handlers = self.handlers()
        #: A template's own phrases for its CLI's limit message, lower case (matched as substrings).
        self.limit_patterns = tuple(p.lower() for p in limit_patterns if p)
        self._limit: UsageLimit | None = None  # seen so far; kept by finish only if the run failed

    def note_limit(self, message: str, resets_at: float | None = None) -> None:
        """The CLI said it hit a usage/rate limit; the reset time is read from ``message`` when not given.
        The latest message is kept (the CLI's closing words are the clearest), with the first reset
        time it gave (an exact epoch from a structured event beats a clock time read from text)."""
        if self._limit is not None and self._limit.resets_at is not None:
            resets_at = self._limit.resets_at
        elif resets_at is None:
            resets_at = reset_time(message, datetime.now(UTC))
        self._limit = UsageLimit(message[:1000], resets_at)

    def handlers(self) -> dict[str, Handler]:
        return {}

    def report_error(self, message: str) -> list[Event]:
        """Record a CLI-reported error; the same message twice in a row is one event."""
        repeated = message == self.report.error
        self.report.error = message
        return [] if repeated else [event("error", message=message)]

    def feed(self, line: str) -> list[Event]:
        """One stdout line (without its newline) -> 0..n normalized events. Never raises."""
        try:
            if self.limit_patterns and matches_any(line, self.limit_patterns):
                self.note_limit(line)
            events = self._feed(line)
            if not self.report.worked:
                self.report.worked = any(e["kind"] in _WORK for e in events)
            return events
        except Exception as exc:  # a bug in a handler must not take the node down
            return [event("error", message=f"parser error: {exc!r}"[:1000]), raw_event(str(line))]

    def _feed(self, line: str) -> list[Event]:
        try:
            obj = json.loads(line, parse_constant=_non_finite, parse_float=_finite_float)
        except (ValueError, RecursionError):
            return [raw_event(line)]
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            return [raw_event(line)]
        handler = self._handlers.get(obj["type"])
        events = handler(obj) if handler is not None else None
        return events if events is not None else [raw_event(line)]

    def finish(self, exit_code: int | None, stderr: str) -> list[Event]:
        """Called once after the process exited: closing events; sets ``report.succeeded`` (and
        ``report.limit`` when a failed run hit a usage or rate limit)."""
        try:
            events = self._finish(exit_code, stderr or "")
        except Exception as exc:
            self.report.succeeded = False
            message = f"parser error: {exc!r}"[:1000]
            self.report.error = self.report.error or message
            return [event("error", message=message)]
        self._settle_limit(stderr[-SCAN_CHARS:] if stderr else "")
        return events

    def _settle_limit(self, stderr_end: str) -> None:
        """A limit counts only for a run that failed: one that retried past a 429 and finished is a success."""
        if self.report.succeeded:
            return
        if self.limit_patterns and matches_any(stderr_end, self.limit_patterns):
            self.note_limit(stderr_tail(stderr_end))
        limit = self._limit
        if limit is not None and limit.resets_at is None and stderr_end:
            # Gemini prints the API's retry delay only on stderr.
            limit = UsageLimit(limit.message, reset_time(stderr_end, datetime.now(UTC)))
        self.report.limit = limit

    def _finish(self, exit_code: int | None, stderr: str) -> list[Event]:
        """JSON formats: success needs exit 0, the closing event, and no reported error."""
        report = self.report
        message = None
        if not report.final_seen:
            message = self.missing_final_message(exit_code, stderr)
        elif exit_code != 0 and report.error is None:
            message = f"{self.cli} {describe_exit(exit_code)} after its final result"
            if stderr_tail(stderr):
                message += f": {stderr_tail(stderr)}"
        if message is not None and report.error is None:
            report.error = message
        report.succeeded = exit_code == 0 and report.final_seen and report.error is None
        return [event("error", message=message)] if message is not None else []

    def missing_final_message(self, exit_code: int | None, stderr: str) -> str:
        message = f"{self.cli} {describe_exit(exit_code)} without a final result"
        if stderr_tail(stderr):
            message += f": {stderr_tail(stderr)}"
        return message


def _non_finite(name: str) -> float:
    """NaN and Infinity are not JSON: a line carrying them is kept raw, never stored as a number."""
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is out of range")
    return number
