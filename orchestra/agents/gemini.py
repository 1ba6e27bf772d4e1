"""Gemini CLI's ``--output-format stream-json`` stream.

Lines: ``init{session_id,model}``, ``message{role,content,delta}`` (assistant text arrives as delta
chunks; the user's prompt is echoed back as a user message), ``tool_use``, ``tool_result``,
``error{severity,message}``, and a closing ``result{status,error?,stats}``. Gemini exits 0 on a
broken stream and with HTTP statuses mod 256 on refusals, so ``result.status`` is the verdict.
"""

from __future__ import annotations

from typing import Any

from orchestra.agents.base import AgentParser, Event, Handler, as_int, event, tool_result
from orchestra.agents.limits import mentions_limit


class GeminiParser(AgentParser):
    output_format = "gemini-stream-json"
    cli = "gemini"

    def __init__(self, limit_patterns: tuple[str, ...] = ()) -> None:
        super().__init__(limit_patterns)
        self._answer: list[str] = []  # assistant text since the last tool call

    def handlers(self) -> dict[str, Handler]:
        return {
            "init": self._init,
            "message": self._message,
            "tool_use": self._tool_use,
            "tool_result": self._tool_result,
            "error": self._error,
            "result": self._result,
        }

    def _init(self, obj: dict[str, Any]) -> list[Event]:
        report = self.report
        report.session_id = obj.get("session_id") if isinstance(obj.get("session_id"), str) else report.session_id
        report.model = obj.get("model") if isinstance(obj.get("model"), str) else report.model
        return [event("system", subtype="init", session_id=report.session_id, model=report.model)]

    def _message(self, obj: dict[str, Any]) -> list[Event] | None:
        role, content = obj.get("role"), obj["content"]
        if role == "user":  # the prompt echoed back
            return []
        if role != "assistant" or not isinstance(content, str):
            return None
        if obj.get("delta"):
            self._answer.append(content)
        else:
            self._answer = [content]
        self.report.result_text = "".join(self._answer) or None
        return [event("text", text=content, delta=True if obj.get("delta") else None)]

    def _tool_use(self, obj: dict[str, Any]) -> list[Event]:
        self._answer = []
        self.report.result_text = None
        parameters = obj.get("parameters")
        return [
            event(
                "tool_use",
                id=obj["tool_id"],
                name=obj["tool_name"],
                input=parameters if isinstance(parameters, dict) else {},
            )
        ]

    def _tool_result(self, obj: dict[str, Any]) -> list[Event]:
        error = obj.get("error")
        if isinstance(error, dict):
            output = str(error.get("message") or "")
        else:
            given = obj.get("output")
            output = given if isinstance(given, str) else ""
        failed = obj.get("status") != "success"
        return [tool_result(obj["tool_id"], output, failed)]

    def _error(self, obj: dict[str, Any]) -> list[Event]:
        message = str(obj["message"])
        if obj.get("severity") == "warning":
            return [event("system", subtype="warning", message=message)]
        return self._report(message)

    def _report(self, message: str) -> list[Event]:
        # "You exceeded your current quota … Please retry in 11817.001s." / "You have exhausted your
        # daily quota on this model." (429 RESOURCE_EXHAUSTED): a limit, if the run then fails.
        if mentions_limit(message):
            self.note_limit(message)
        return self.report_error(message)

    def _result(self, obj: dict[str, Any]) -> list[Event]:
        report = self.report
        report.final_seen = True
        stats = obj.get("stats") or {}
        report.input_tokens = as_int(stats.get("input_tokens")) or 0
        report.output_tokens = as_int(stats.get("output_tokens")) or 0
        events = [event("usage", input_tokens=report.input_tokens, output_tokens=report.output_tokens)]
        if obj.get("status") == "success":
            report.error = None  # the closing verdict wins over errors that were retried mid-run
            return [*events, event("system", subtype="result", is_error=False, text=report.result_text)]
        error = obj.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        fallback = f"gemini finished with status {obj.get('status')}"
        events += self._report(str(message or report.error or fallback))
        return [*events, event("system", subtype="result", is_error=True, text=report.error)]
