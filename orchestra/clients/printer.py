"""How the terminal client prints a project's events (``watch``, ``launch --until-done``): agent text,
tool calls, checks and state changes."""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from orchestra.clients.ansi import strip_ansi
from orchestra.clients.status_text import status_text
from orchestra.core.statuses import (
    EXECUTION_CHANGE_EVENT_TYPES,
    NODE_EVENT_TYPES,
    EventType,
    ExecutionStatus,
)


@dataclass
class Printer:
    """Turns events into readable lines: agent text, tool calls, state changes."""

    out: TextIO = sys.stdout
    verbose: bool = False
    _partial: dict[str, str] = field(default_factory=dict)

    def line(self, ts: float | None, node: str | None, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(ts or time.time()))
        prefix = f"[{node}] " if node else ""
        if not self.out.isatty():  # a file or a pipe: no raw escape codes in it
            text = strip_ansi(text)
        for piece in text.splitlines() or [""]:
            print(f"{stamp} {prefix}{piece}", file=self.out)
        self.out.flush()

    def snapshot(self, snapshot: dict[str, Any]) -> None:
        project = snapshot["project"]
        latest = {e["node_id"]: status_text(e) for e in snapshot["executions"]}
        self.line(None, None, f"project {project['name']} ({project['id']}): {len(snapshot['nodes'])} node(s)")
        for node in snapshot["nodes"]:
            after = f" after {', '.join(node['depends_on'])}" if node["depends_on"] else ""
            self.line(None, node["id"], f"{latest.get(node['id'], 'never run')}{after}")

    def event(self, event: dict[str, Any]) -> None:
        kind, ts, node = event.get("type"), event.get("ts"), event.get("node_id")
        if kind != EventType.EXECUTION_OUTPUT and node in self._partial:
            self.line(ts, node, self._partial.pop(node))
        if kind == EventType.RUN_STARTED:
            self.line(ts, None, f"run {event['run_id']} started")
        elif kind == EventType.RUN_FINISHED:
            run = event["run"]
            suffix = f": {run['error']}" if run.get("error") else ""
            self.line(ts, None, f"run {event['run_id']} {run['status']}{suffix}")
        elif kind in EXECUTION_CHANGE_EVENT_TYPES:
            self._execution(event)
        elif kind == EventType.EXECUTION_OUTPUT:
            self._output(ts, node, event["output"])
        elif kind in (EventType.CHECK_STARTED, EventType.CHECK_FINISHED):
            self._check(ts, node, event["check"])
        elif kind in NODE_EVENT_TYPES and self.verbose:
            self.line(ts, node, kind.split(".")[1])

    def _execution(self, event: dict[str, Any]) -> None:
        execution, ts, node = event["execution"], event.get("ts"), event.get("node_id")
        status = execution["status"]
        if event["type"] == EventType.EXECUTION_QUEUED:
            if self.verbose or execution.get("attempt", 1) > 1:
                self.line(ts, node, f"queued (attempt {execution.get('attempt', 1)})")
            return
        if event["type"] == EventType.EXECUTION_STARTED:
            self.line(ts, node, f"started {execution['agent']} ({execution['id']})")
            return
        details = []
        if execution.get("started_at") and execution.get("finished_at"):
            seconds = execution["finished_at"] - execution["started_at"]
            details.append(f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s")
        if execution.get("input_tokens") is not None:
            details.append(f"{execution['input_tokens']} in / {execution.get('output_tokens')} out tokens")
        if execution.get("cost_usd"):
            details.append(f"${execution['cost_usd']:.4f}")
        text = status_text(execution) + (f" ({', '.join(details)})" if details else "")
        if execution.get("error") and status != ExecutionStatus.SUCCEEDED:
            text += f": {execution['error']}"
        self.line(ts, node, text)

    def _check(self, ts: float | None, node: str | None, check: dict[str, Any]) -> None:
        command = shlex.join(check["argv"])
        if "passed" not in check:
            self.line(ts, node, f"check {command} started")
        elif check["passed"]:
            self.line(ts, node, f"check {command} passed")
        else:
            why = check.get("error") or f"exit code {check.get('exit_code')}"
            tail = [line for line in str(check.get("output") or "").splitlines() if line.strip()][-3:]
            self.line(ts, node, "\n".join([f"check {command} FAILED ({why})", *(f"  {line}" for line in tail)]))

    def _output(self, ts: float | None, node: str | None, output: dict[str, Any]) -> None:
        kind = output.get("kind")
        key = node or ""
        if kind == "text" and output.get("delta"):
            self._partial[key] = self._partial.get(key, "") + output.get("text", "")
            return
        if key in self._partial:
            self.line(ts, node, self._partial.pop(key))
        if kind == "text":
            self.line(ts, node, output.get("text", ""))
        elif kind == "thinking" and self.verbose:
            self.line(ts, node, f"(thinking) {output.get('text', '')}")
        elif kind == "tool_use":
            self.line(ts, node, f"tool {output.get('name')} {short(json.dumps(output.get('input'), default=str))}")
        elif kind == "tool_result":
            mark = "tool error" if output.get("is_error") else "tool result"
            self.line(ts, node, f"  {mark}: {short(str(output.get('output', '')))}")
        elif kind == "error":
            self.line(ts, node, f"ERROR {output.get('message')}")
        elif kind in ("raw", "system", "usage") and self.verbose:
            self.line(ts, node, f"({kind}) {short(json.dumps(output, default=str))}")


def short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
