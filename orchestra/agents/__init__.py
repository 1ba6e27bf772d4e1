"""Agent output parsers: one module per CLI output format, all behind one small contract.

``make_parser(output_format)`` returns a fresh :class:`AgentParser`; the hub feeds it each stdout
line and calls ``finish(exit_code, stderr)`` once, then reads its :class:`AgentReport`. Every line
becomes zero or more normalized events, plain dicts with a ``kind`` and no None values:

- ``system``: ``subtype`` "init" (``session_id``, ``model``), "result" (``is_error``, ``text``),
  or the CLI's own (``status``, ``api_retry``, ``warning``, ...) with a short ``message``
- ``text`` (``text``, ``delta`` for Gemini chunks), ``thinking`` (``text``)
- ``tool_use`` (``id``, ``name``, ``input``); ``tool_result`` (``tool_use_id``, ``output``,
  ``is_error``, ``truncated``, ``exit_code`` for Codex commands)
- ``usage`` (``input_tokens``, ``output_tokens``, ``cost_usd`` for Claude)
- ``error`` (``message``): reported by the CLI, a missing final result, or a parser error
- ``raw`` (``line``, ``truncated`` = original size in bytes when cut): anything not understood
- ``system`` with ``subtype`` "rate_limit" (``status``, ``resets_at``, ``message``): Claude's rate-limit notices

A failed run whose CLI said it hit a usage or rate limit leaves ``AgentReport.limit`` set
(orchestra/agents/limits.py): the hub parks such an execution instead of failing it.
"""

from __future__ import annotations

from orchestra.agents.base import AgentParser, AgentReport
from orchestra.agents.claude import ClaudeParser
from orchestra.agents.codex import CodexParser
from orchestra.agents.gemini import GeminiParser
from orchestra.agents.text import TextParser

_PARSERS: dict[str, type[AgentParser]] = {
    cls.output_format: cls for cls in (ClaudeParser, CodexParser, GeminiParser, TextParser)
}
OUTPUT_FORMATS: tuple[str, ...] = tuple(_PARSERS)


def make_parser(output_format: str, limit_patterns: tuple[str, ...] = ()) -> AgentParser:
    """A fresh parser for one run (with the template's own limit phrases); ValueError names the
    valid formats."""
    try:
        return _PARSERS[output_format](limit_patterns)
    except KeyError:
        raise ValueError(
            f"unknown output format {output_format!r}; expected one of {', '.join(OUTPUT_FORMATS)}"
        ) from None


__all__ = ["OUTPUT_FORMATS", "AgentParser", "AgentReport", "make_parser"]
