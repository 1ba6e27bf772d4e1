"""Codex CLI's ``codex exec --json`` stream.

Lines: ``thread.started{thread_id}`` (the resume id), ``turn.started``, ``item.started|updated|
completed{item}``, top-level ``error{message}``, and a closing ``turn.completed{usage}`` or
``turn.failed{error}``. Codex reports no cost and no final-text field: the answer is the last
``agent_message``. Top-level ``error`` lines also announce retried stream failures ("Reconnecting…"),
so a later ``turn.completed`` clears them; ``error`` *items* are warnings (config, deprecation).
"""

from __future__ import annotations

from typing import Any

from orchestra.agents.base import AgentParser, Event, Handler, as_int, event, tool_result
from orchestra.agents.limits import mentions_limit

#: Item types that are tool calls, and the tool name the hub shows for them.
TOOL_ITEMS = {"command_execution", "file_change", "mcp_tool_call", "web_search"}


class CodexParser(AgentParser):
    output_format = "codex-json"
    cli = "codex"

    def __init__(self, limit_patterns: tuple[str, ...] = ()) -> None:
        super().__init__(limit_patterns)
        self._started: set[str] = set()  # tool items already announced by item.started

    def handlers(self) -> dict[str, Handler]:
        return {
            "thread.started": self._thread_started,
            "turn.started": lambda obj: [],
            "item.started": self._item_started,
            "item.updated": lambda obj: [],  # progress of an item we report when it completes
            "item.completed": self._item_completed,
            "turn.completed": self._turn_completed,
            "turn.failed": self._turn_failed,
            "error": lambda obj: self._error(str(obj["message"])),
        }

    def _error(self, message: str) -> list[Event]:
        # "You've hit your usage limit. … try again at 7:16 PM." (a ChatGPT plan) or "exceeded retry
        # limit, last status: 429 Too Many Requests" (an API key): a limit, if the turn then fails.
        if mentions_limit(message):
            self.note_limit(message)
        return self.report_error(message)

    def _thread_started(self, obj: dict[str, Any]) -> list[Event]:
        self.report.session_id = str(obj["thread_id"])
        return [event("system", subtype="init", session_id=self.report.session_id)]

    def _item_started(self, obj: dict[str, Any]) -> list[Event]:
        item = obj["item"]
        if item.get("type") not in TOOL_ITEMS:
            return []
        self._started.add(item["id"])
        return [_tool_use(item)]

    def _item_completed(self, obj: dict[str, Any]) -> list[Event] | None:
        item = obj["item"]
        kind = item.get("type")
        if kind == "agent_message":
            self.report.result_text = item["text"]
            return [event("text", text=item["text"])]
        if kind == "plan":
            return [event("text", text=item["text"])]
        if kind == "reasoning":
            return [event("thinking", text=item["text"])]
        if kind == "error":
            return [event("system", subtype="warning", message=str(item.get("message")))]
        if kind == "todo_list":
            todo = [f"[{'x' if t.get('completed') else ' '}] {t.get('text')}" for t in item.get("items", [])]
            return [event("system", subtype="todo_list", message="\n".join(todo))]
        if kind not in TOOL_ITEMS:
            return None  # an item type newer than this parser: keep it as raw
        events = [] if item["id"] in self._started else [_tool_use(item)]
        self._started.discard(item["id"])
        return [*events, _tool_result(item)]

    def _turn_completed(self, obj: dict[str, Any]) -> list[Event]:
        report = self.report
        report.final_seen = True
        report.error = None  # the turn completed: earlier `error` lines were retried failures
        usage = obj.get("usage") or {}
        report.input_tokens = as_int(usage.get("input_tokens")) or 0
        report.output_tokens = as_int(usage.get("output_tokens")) or 0
        return [
            event("usage", input_tokens=report.input_tokens, output_tokens=report.output_tokens),
            event("system", subtype="result", is_error=False, text=report.result_text),
        ]

    def _turn_failed(self, obj: dict[str, Any]) -> list[Event]:
        self.report.final_seen = True
        error = obj.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        events = self._error(str(message or self.report.error or "codex turn failed"))
        return [*events, event("system", subtype="result", is_error=True, text=self.report.error)]


def _tool_use(item: dict[str, Any]) -> Event:
    kind = item["type"]
    if kind == "command_execution":
        return event("tool_use", id=item["id"], name="shell", input={"command": item["command"]})
    if kind == "file_change":
        return event("tool_use", id=item["id"], name="file_change", input={"changes": item["changes"]})
    if kind == "mcp_tool_call":
        name = f"{item.get('server')}.{item.get('tool')}"
        arguments = item.get("arguments")
        arguments = arguments if isinstance(arguments, dict) else {}
        return event("tool_use", id=item["id"], name=name, input=arguments)
    return event("tool_use", id=item["id"], name="web_search", input={"query": item.get("query")})


def _tool_result(item: dict[str, Any]) -> Event:
    kind, status = item["type"], item.get("status")
    if kind == "command_execution":
        exit_code = item.get("exit_code")
        failed = status in ("failed", "declined") or exit_code not in (0, None)
        return tool_result(item["id"], item.get("aggregated_output") or "", failed, exit_code=exit_code)
    if kind == "file_change":
        summary = "\n".join(f"{c.get('kind')} {c.get('path')}" for c in item["changes"])
        return tool_result(item["id"], summary, status != "completed")
    if kind == "mcp_tool_call":
        error = item.get("error")
        if isinstance(error, dict):
            return tool_result(item["id"], str(error.get("message")), True)
        content = (item.get("result") or {}).get("content") or []
        text = "\n".join(str(c.get("text", c)) if isinstance(c, dict) else str(c) for c in content)
        return tool_result(item["id"], text, status == "failed")
    return tool_result(item["id"], "", False)
