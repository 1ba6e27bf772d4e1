"""Plain-text agents: any CLI that prints prose, or a script run as a node.

Every line is text; there is no closing event, so the exit code alone decides success and the
answer is the tail of everything printed (the last 64 KiB), set by ``finish``.
"""

from __future__ import annotations

from collections import deque

from orchestra.agents.base import MAX_TEXT, AgentParser, Event, cap, describe_exit, event, stderr_tail, tail


class TextParser(AgentParser):
    output_format = "text"
    cli = "agent"

    def __init__(self, limit_patterns: tuple[str, ...] = ()) -> None:
        super().__init__(limit_patterns)
        self._lines: deque[str] = deque()
        self._size = 0  # characters held in _lines, newlines included

    def _feed(self, line: str) -> list[Event]:
        capped, size = cap(line)
        self._lines.append(capped)
        self._size += len(capped) + 1
        while len(self._lines) > 1 and self._size - len(self._lines[0]) - 1 >= MAX_TEXT:
            self._size -= len(self._lines.popleft()) + 1
        return [event("text", text=capped, truncated=size)]

    def _finish(self, exit_code: int | None, stderr: str) -> list[Event]:
        report = self.report
        report.result_text = tail("\n".join(self._lines)) if self._lines else None  # joined once, here
        report.succeeded = exit_code == 0
        if report.succeeded:
            return []
        report.error = f"{self.cli} {describe_exit(exit_code)}"
        if stderr_tail(stderr):
            report.error += f": {stderr_tail(stderr)}"
        return [event("error", message=report.error)]
