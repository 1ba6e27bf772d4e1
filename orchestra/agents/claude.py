"""Claude Code's ``--output-format stream-json --verbose`` stream.

Lines: ``system`` (``init``, ``status``, ``api_retry``), one ``assistant`` line per content block,
``user`` lines carrying ``tool_result`` blocks, ``stream_event`` partial-message deltas, and a closing
``result``. The ``result`` is the verdict: ``is_error`` can be true while ``subtype`` says
``success`` and the exit code is 1 (401), so both flags are read.
"""

from __future__ import annotations

import json
from typing import Any

from orchestra.agents.base import AgentParser, Event, Handler, as_int, event, raw_event, tool_result
from orchestra.agents.limits import mentions_limit

#: Claude's stderr when --dangerously-skip-permissions is used as root (exit 1, empty stdout).
ROOT_REFUSAL = "cannot be used with root/sudo privileges"
#: Claude Code 2.1.74 was seen writing a rate_limit_event into the middle of another line.
_EMBEDDED_EVENT = '{"type":"rate_limit_event"'
_DECODER = json.JSONDecoder()


class ClaudeParser(AgentParser):
    output_format = "claude-stream-json"
    cli = "claude"

    def __init__(self, limit_patterns: tuple[str, ...] = ()) -> None:
        super().__init__(limit_patterns)
        self._held: str | None = None  # the first part of a line a rate_limit_event was written into

    def _feed(self, line: str) -> list[Event]:
        """A line with a ``rate_limit_event`` written into it is two events (the one it split may end on
        the next line): neither is lost."""
        held, self._held = self._held, None
        if held is not None:
            joined = super()._feed(held + line)
            if not _is_raw(joined):
                return joined
            return [raw_event(held), *self._feed(line)]
        events = super()._feed(line)
        at = line.find(_EMBEDDED_EVENT, 1) if _is_raw(events) else -1
        if at < 0:
            return events
        try:
            _, end = _DECODER.raw_decode(line, at)
        except ValueError:
            return events
        embedded = super()._feed(line[at:end])
        rest = line[:at] + line[end:]
        if end == len(line):  # the split line goes on on the next line
            self._held = line[:at]
            return embedded
        return [*embedded, *super()._feed(rest)]

    def handlers(self) -> dict[str, Handler]:
        return {
            "system": self._system,
            "assistant": self._assistant,
            "user": self._user,
            "result": self._result,
            "rate_limit_event": self._rate_limit_event,
            # With --include-partial-messages, each message is streamed as deltas *and* then sent
            # whole as `assistant` lines; the whole lines are the ones we keep, so the deltas would
            # only duplicate them (and a half-streamed tool input is not valid JSON yet).
            "stream_event": lambda obj: [],
        }

    def _note_session(self, obj: dict[str, Any]) -> None:
        if isinstance(obj.get("session_id"), str):
            self.report.session_id = obj["session_id"]

    def _system(self, obj: dict[str, Any]) -> list[Event]:
        subtype = obj.get("subtype")
        self._note_session(obj)
        if subtype == "init":
            if isinstance(obj.get("model"), str):
                self.report.model = obj["model"]
            return [event("system", subtype="init", session_id=obj.get("session_id"), model=obj.get("model"))]
        return [event("system", subtype=str(subtype), message=_system_message(obj))]

    def _assistant(self, obj: dict[str, Any]) -> list[Event]:
        message = obj["message"]
        self._note_session(obj)
        model = message.get("model")
        if isinstance(model, str) and not model.startswith("<"):  # "<synthetic>" on API errors
            self.report.model = model
        blocks = message["content"]
        if obj.get("is_api_error_message"):
            # The CLI's own stand-in message for a failed API call ("Invalid API key · …").
            text = _block_text(blocks) or str(obj.get("error") or "API error")
            self._api_error_limit(obj, text)
            return self.report_error(text)
        events: list[Event] = []
        for block in blocks:
            kind = block.get("type")
            if kind == "text":
                events.append(event("text", text=block["text"]))
            elif kind == "thinking":
                events.append(event("thinking", text=block["thinking"]))
            elif kind in ("tool_use", "server_tool_use"):
                events.append(event("tool_use", id=block["id"], name=block["name"], input=block.get("input")))
        return events

    def _user(self, obj: dict[str, Any]) -> list[Event]:
        content = obj["message"]["content"]
        if isinstance(content, str):  # a plain user turn (the prompt echo), not a tool result
            return []
        return [
            tool_result(block["tool_use_id"], _block_text(block.get("content")), bool(block.get("is_error")))
            for block in content
            if block.get("type") == "tool_result"
        ]

    def _result(self, obj: dict[str, Any]) -> list[Event]:
        report = self.report
        report.final_seen = True
        self._note_session(obj)
        text = obj.get("result") if isinstance(obj.get("result"), str) else None
        report.result_text = text
        usage = obj.get("usage") or {}
        # Claude counts cache reads/writes apart from input_tokens; the model saw all of them.
        report.input_tokens = sum(
            as_int(usage.get(k)) or 0
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        report.output_tokens = as_int(usage.get("output_tokens")) or 0
        cost = obj.get("total_cost_usd")
        report.cost_usd = float(cost) if isinstance(cost, int | float) else None
        subtype = str(obj.get("subtype") or "")
        events = [event("usage", input_tokens=report.input_tokens, output_tokens=report.output_tokens,
                        cost_usd=report.cost_usd)]
        if obj.get("is_error") or subtype.startswith("error"):
            errors = obj.get("errors")
            detail = "; ".join(map(str, errors)) if isinstance(errors, list) and errors else None
            message = text or detail or f"claude finished with {subtype or 'an error'}"
            self._api_error_limit(obj, message)
            events += self.report_error(message)
            events.append(event("system", subtype="result", is_error=True, text=report.error))
        else:
            report.error = None  # the closing verdict wins over errors that were retried mid-run
            events.append(event("system", subtype="result", is_error=False, text=text))
        return events

    def _rate_limit_event(self, obj: dict[str, Any]) -> list[Event]:
        """``allowed`` / ``allowed_warning`` inform; ``rejected`` (``denied`` in older versions) is the limit."""
        self._note_session(obj)
        info = obj.get("rate_limit_info")
        info = info if isinstance(info, dict) else {}
        status = str(info.get("status") or "")
        resets_at = _epoch(info.get("resetsAt"))
        kind = str(info.get("rateLimitType") or "usage").replace("_", "-")
        message = f"claude: {kind} limit {status}"
        if status in ("rejected", "denied"):
            self.note_limit(f"{kind} limit reached", resets_at)
        return [event("system", subtype="rate_limit", status=status, resets_at=resets_at, message=message)]

    def _api_error_limit(self, obj: dict[str, Any], text: str) -> None:
        """A 429 from the API, or the CLI's limit texts ("You've hit your limit · resets 4pm (…)",
        "Claude AI usage limit reached|1750708800")."""
        params = obj.get("api_error_params")
        info = params.get("rate_limit_info") if isinstance(params, dict) else None
        resets_at = _epoch(info.get("resetsAt")) if isinstance(info, dict) else None
        if obj.get("api_error_status") == 429 or obj.get("error") == "rate_limit" or resets_at is not None:
            self.note_limit(text, resets_at)
        elif "limit" in text[:2000].lower() and mentions_limit(text):
            self.note_limit(text)

    def _finish(self, exit_code: int | None, stderr: str) -> list[Event]:
        held, self._held = self._held, None
        return ([raw_event(held)] if held is not None else []) + super()._finish(exit_code, stderr)

    def missing_final_message(self, exit_code: int | None, stderr: str) -> str:
        if ROOT_REFUSAL in stderr:
            return (
                "claude refuses --dangerously-skip-permissions when run as root: run the Orchestra "
                "hub as an ordinary (non-root) user, e.g. the dedicated user of its systemd unit "
                f"(claude said: {stderr.strip()[:300]})"
            )
        return super().missing_final_message(exit_code, stderr)


def _is_raw(events: list[Event]) -> bool:
    return len(events) == 1 and events[0]["kind"] == "raw"


def _epoch(value: Any) -> float | None:
    """Epoch seconds as Claude gives them (a number; milliseconds are recognised by their size)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    return float(value) / 1000 if value > 10_000_000_000 else float(value)


def _system_message(obj: dict[str, Any]) -> str | None:
    """A short human line for the non-init system lines (status, api_retry, …)."""
    if obj.get("subtype") == "api_retry":
        attempt, limit = obj.get("attempt"), obj.get("max_retries")
        status, error = obj.get("error_status"), obj.get("error")
        parts = [f"retrying API call (attempt {attempt}/{limit})"]
        if status or error:
            parts.append(" ".join(str(p) for p in (status, error) if p))
        return ": ".join(parts)
    for key in ("message", "status"):
        value = obj.get(key)
        if isinstance(value, str):
            return value
    return None


def _block_text(content: Any) -> str:
    """Text of a tool_result's content: a string, or a list of blocks (text kept, others named)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, dict):
            parts.append(f"[{block.get('type', 'block')}]")
        else:
            parts.append(str(block))
    return "\n".join(parts)
