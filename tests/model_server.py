"""A stand-in for the three model APIs the agent CLIs call, on loopback only, for tests that run
the real CLIs (tests/test_real_clis.py).

It speaks just enough of each API to script one agent turn the way a model would:

- Anthropic Messages (Claude Code): ``POST /v1/messages`` streamed as Anthropic SSE (or one JSON
  message when ``stream`` is false), ``POST /v1/messages/count_tokens``.
- OpenAI Responses (Codex CLI): ``POST /v1/responses`` streamed as Responses-API SSE.
- Gemini (Gemini CLI): ``POST /v1beta/models/MODEL:streamGenerateContent?alt=sse`` (and the
  non-streaming ``:generateContent`` and ``:countTokens``).

The script, for every CLI: a turn that ends with the user's words is answered with a short text
and one tool call that writes ``<cli>.txt`` in the agent's working directory (Claude Code's
``Write``; Codex's ``exec_command``, or its JavaScript ``exec`` tool in code mode, the default of its
newer models; Gemini's ``write_file``); a turn that ends with a tool's result is answered with the
final text ``received N characters; sha256 HEX`` describing the user's latest words, so a test can
check that a prompt reached the model whole. A prompt ``RUN-SHELL: COMMAND`` gets a shell tool call
running COMMAND instead (Claude Code's ``Bash``, Codex's shell, Gemini's ``run_shell_command``):
tests/test_sandbox.py has each CLI run a hostile script that way. Side requests get a short, well-formed answer: a
request without tools a text, Gemini's model-router classifier JSON that fits its response schema.

Every request is recorded (``ModelServer.requests``; with ``record_dir`` also written to disk as
JSON) so a test can assert on what the model saw.

Usage limits: ``ModelServer.limit(api, requests=N, reset_in_s=S)`` answers the next N requests to
that API's model endpoint (for Gemini its streamed turns, not its model router's side calls) with
HTTP 429 and the API's real limit body and headers (Anthropic's ``rate_limit_error`` with
``retry-after`` and the ``anthropic-ratelimit-unified-*`` headers a subscription sees; OpenAI's
``rate_limit_exceeded`` or ``usage_limit_reached`` with ``retry-after`` and ``x-ratelimit-reset-*``;
Gemini's ``RESOURCE_EXHAUSTED`` with a ``RetryInfo`` ``retryDelay``); ``lift(api)`` lets requests
through again before N are used up. See ``limit_answer``.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import re
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import trio
from loopback_http import serve_loopback

ANTHROPIC = "anthropic"
RESPONSES = "openai-responses"
GEMINI = "gemini"
OTHER = "other"

#: The file each CLI's scripted tool call writes, relative to the agent's working directory.
WRITTEN_FILE = {ANTHROPIC: "claude-code.txt", RESPONSES: "codex.txt", GEMINI: "gemini.txt"}

_WORKDIR = re.compile(r"(?:Working directory|Primary working directory|cwd):\s*(/[^\s`]+)", re.IGNORECASE)


def describe(text: str) -> str:
    """The final answer the stand-in gives for a user turn whose text is ``text``."""
    return f"received {len(text)} characters; sha256 {hashlib.sha256(text.encode()).hexdigest()}"


@dataclass
class Limit:
    """The next ``requests`` calls to one API's model endpoint get a 429 saying the limit resets at
    ``resets_at`` (epoch seconds)."""

    requests: int
    resets_at: float
    #: How many calls still go through first (1: the agent's first turn succeeds, its next one is refused).
    skip: int = 0
    #: "rate": an API key's rate limit; "usage": a subscription's usage limit where the API has its own
    #: body for it (OpenAI's ``usage_limit_reached`` that ChatGPT-plan Codex users get).
    kind: str = "rate"


@dataclass
class ModelRequest:
    """One request the stand-in received, and what it made of it."""

    number: int
    method: str
    path: str
    api: str
    body: Any
    #: Every piece of user-written text in the conversation it carries, oldest first.
    user_texts: list[str] = field(default_factory=list)
    #: The latest user turn's text (the last of ``user_texts`` that is not a tool's result).
    prompt: str | None = None
    #: True when the conversation ends with a tool's result (the answer is then the final text).
    after_tool: bool = False
    #: What the stand-in answered: "tool" (a text and a tool call) or "final" (the final text) to the
    #: agent's own turns; "text", "json" or "error" to side requests; "limit" for a 429.
    answer: str = ""
    answer_text: str = ""
    #: Response headers beyond content-type (a 429's retry and rate-limit headers).
    headers: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        size = len(self.prompt) if self.prompt is not None else None
        return f"#{self.number} {self.method} {self.path} api={self.api} answer={self.answer} prompt_chars={size}"


class ModelServer:
    """Serve on 127.0.0.1 (a free port) inside a Trio nursery: ``await nursery.start(server.serve)``."""

    def __init__(self, record_dir: Path | None = None) -> None:
        self.requests: list[ModelRequest] = []
        self.port = 0
        self.record_dir = record_dir
        self._ids = itertools.count(1)
        self.limits: dict[str, Limit] = {}
        if record_dir is not None:
            record_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "\n".join(r.summary() for r in self.requests) or "(no requests)"

    def of(self, api: str) -> list[ModelRequest]:
        return [r for r in self.requests if r.api == api]

    def limit(self, api: str, *, requests: int = 1_000_000, reset_in_s: float = 30, kind: str = "rate",
              skip: int = 0) -> Limit:
        """Refuse the next ``requests`` model calls of ``api`` after the first ``skip`` with a 429 (until ``lift``)."""
        self.limits[api] = Limit(requests, time.time() + reset_in_s, skip, kind)
        return self.limits[api]

    def lift(self, api: str) -> None:
        self.limits.pop(api, None)

    def _limited(self, api: str) -> Limit | None:
        limit = self.limits.get(api)
        if limit is None or limit.requests <= 0:
            return None
        if limit.skip > 0:
            limit.skip -= 1
            return None
        limit.requests -= 1
        return limit

    async def serve(self, *, task_status: trio.TaskStatus[ModelServer] = trio.TASK_STATUS_IGNORED) -> None:
        await serve_loopback(self, self._respond, task_status)

    # -- HTTP/1.1 (tests/loopback_http.py) --------------------------------------------------------

    async def _respond(self, stream: trio.SocketStream, conn: h11.Connection,
                       request: h11.Request, body: bytes) -> None:
        body = _decoded(request, body)
        target = request.target.decode("latin-1")
        path = urlsplit(target).path
        method = request.method.decode()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        recorded = ModelRequest(next(self._ids), method, target, OTHER, parsed)
        self.requests.append(recorded)
        status, content_type, chunks = self._dispatch(method, path, parsed, recorded)
        self._write_record(recorded)
        headers = [("content-type", content_type), ("cache-control", "no-cache"), *recorded.headers]
        if content_type == "application/json":
            data = b"".join(chunks)
            headers.append(("content-length", str(len(data))))
            chunks = [data]
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
        for chunk in chunks:
            await stream.send_all(conn.send(h11.Data(data=chunk)))
        await stream.send_all(conn.send(h11.EndOfMessage()))

    def _write_record(self, recorded: ModelRequest) -> None:
        if self.record_dir is None:
            return
        record = {"method": recorded.method, "path": recorded.path, "api": recorded.api,
                  "answer": recorded.answer, "answer_text": recorded.answer_text,
                  "prompt_chars": None if recorded.prompt is None else len(recorded.prompt),
                  "after_tool": recorded.after_tool, "body": recorded.body}
        (self.record_dir / f"{recorded.number:03d}.json").write_text(json.dumps(record, indent=1))

    def _dispatch(self, method: str, path: str, body: Any,
                  recorded: ModelRequest) -> tuple[int, str, list[bytes]]:
        if method == "POST" and path.endswith("/messages/count_tokens"):
            recorded.api, recorded.answer = ANTHROPIC, "json"
            return 200, "application/json", [_json({"input_tokens": _tokens(body)})]
        if method == "POST" and path.endswith("/messages") and isinstance(body, dict):
            recorded.api = ANTHROPIC
            return self._limit_or(recorded) or anthropic_answer(body, recorded)
        if method == "POST" and path.endswith("/responses") and isinstance(body, dict):
            recorded.api = RESPONSES
            return self._limit_or(recorded) or responses_answer(body, recorded)
        if method == "POST" and "/models/" in path and ":" in path and isinstance(body, dict):
            recorded.api = GEMINI
            method_name = path.rsplit(":", 1)[1]
            if method_name != "streamGenerateContent":  # a side call (the model router's classifier): no limit
                return gemini_answer(method_name, body, recorded)
            return self._limit_or(recorded) or gemini_answer(method_name, body, recorded)
        if method == "GET" and path.rstrip("/").endswith("/models"):
            recorded.answer = "json"
            return 200, "application/json", [_json({"object": "list", "data": [], "models": []})]
        recorded.answer = "error"
        return 404, "application/json", [_json({"error": {"code": 404, "message": f"stand-in: no {path}",
                                                         "type": "not_found_error", "status": "NOT_FOUND"}})]


    def _limit_or(self, recorded: ModelRequest) -> tuple[int, str, list[bytes]] | None:
        limit = self._limited(recorded.api)
        return None if limit is None else limit_answer(recorded, limit.resets_at, limit.kind)


def limit_answer(recorded: ModelRequest, resets_at: float, kind: str = "rate") -> tuple[int, str, list[bytes]]:
    """A 429 as each API really sends it when a rate or usage limit is hit (bodies and header names
    from the providers' documentation and the CLIs' own parsing of them)."""
    recorded.answer = "limit"
    wait = max(1, round(resets_at - time.time()))
    reset_iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(resets_at))
    if recorded.api == ANTHROPIC:
        recorded.answer_text = "This request would exceed your account's rate limit. Please try again later."
        recorded.headers = [
            ("retry-after", str(wait)), ("x-should-retry", "false"),
            ("request-id", f"req_standin{recorded.number:04d}"),
            ("anthropic-ratelimit-requests-limit", "50"), ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", reset_iso),
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", str(int(resets_at))),
            ("anthropic-ratelimit-unified-representative-claim", "five_hour"),
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-reset", str(int(resets_at))),
            ("anthropic-ratelimit-unified-5h-utilization", "1.0"),
            ("anthropic-ratelimit-unified-overage-status", "rejected"),
            ("anthropic-ratelimit-unified-overage-disabled-reason", "org_level_disabled"),
        ]
        body = {"type": "error", "error": {"type": "rate_limit_error", "message": recorded.answer_text},
                "request_id": f"req_standin{recorded.number:04d}"}
    elif recorded.api == RESPONSES and kind == "usage":
        recorded.answer_text = "The usage limit has been reached"
        recorded.headers = [("x-codex-primary-used-percent", "100"), ("x-codex-primary-window-minutes", "300"),
                            ("x-codex-primary-reset-after-seconds", str(wait)),
                            ("x-codex-primary-reset-at", str(int(resets_at))),
                            ("x-request-id", f"req_standin{recorded.number:04d}")]
        body = {"error": {"type": "usage_limit_reached", "message": recorded.answer_text, "plan_type": "plus",
                          "resets_at": int(resets_at), "resets_in_seconds": wait}}
    elif recorded.api == RESPONSES:
        recorded.answer_text = ("Rate limit reached for gpt-5 in organization org-standin on tokens per min (TPM): "
                                f"Limit 30000, Used 30000, Requested 1200. Please try again in {wait}s.")
        recorded.headers = [
            ("retry-after", str(wait)), ("retry-after-ms", str(wait * 1000)),
            ("x-ratelimit-limit-requests", "500"), ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", f"{wait}s"),
            ("x-ratelimit-limit-tokens", "30000"), ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", f"{wait}s"), ("x-request-id", f"req_standin{recorded.number:04d}"),
        ]
        body = {"error": {"message": recorded.answer_text, "type": "tokens", "param": None,
                          "code": "rate_limit_exceeded"}}
    else:  # Gemini: a per-minute quota (retryable) for "rate", the daily one (terminal) for "usage"
        per = "Day" if kind == "usage" else "Minute"
        recorded.answer_text = ("You exceeded your current quota, please check your plan and billing details. "
                                "For more information on this error, head to: https://ai.google.dev/gemini-api/"
                                f"docs/rate-limits. Please retry in {wait}.{recorded.number % 1000:03d}s.")
        body = {"error": {"code": 429, "message": recorded.answer_text, "status": "RESOURCE_EXHAUSTED",
                          "details": [
                              {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                               "violations": [{"quotaMetric": "generativelanguage.googleapis.com/"
                                               "generate_content_free_tier_requests",
                                               "quotaId": f"GenerateRequestsPer{per}PerProjectPerModel-FreeTier",
                                               "quotaDimensions": {"location": "global", "model": "gemini-stand-in"},
                                               "quotaValue": "250" if kind == "usage" else "10"}]},
                              {"@type": "type.googleapis.com/google.rpc.Help",
                               "links": [{"description": "Learn more about Gemini API quotas",
                                          "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                              {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{wait}s"}]}}
    return 429, "application/json", [_json(body)]


# -- the script ------------------------------------------------------------------------------------

def _record_turn(recorded: ModelRequest, user_texts: list[str], prompt: str | None, after_tool: bool) -> None:
    recorded.user_texts = user_texts
    recorded.prompt = prompt
    recorded.after_tool = after_tool


def _tool_content(api: str, prompt: str) -> str:
    return f"{WRITTEN_FILE[api]} for a prompt of {len(prompt)} characters\n"


def _workdir(text: str) -> str | None:
    match = _WORKDIR.search(text)
    return match.group(1).rstrip(".") if match else None


# Anthropic Messages ------------------------------------------------------------------------------

def _anthropic_texts(content: Any) -> Iterator[tuple[str, str]]:
    """(kind, text) of a message's content: kind "text" or "tool_result"."""
    if isinstance(content, str):
        yield "text", content
        return
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            yield "text", str(block.get("text", ""))
        elif block.get("type") == "tool_result":
            yield "tool_result", json.dumps(block.get("content"))


def _is_reminder(text: str) -> bool:
    return text.lstrip().startswith("<system-reminder>")


def anthropic_answer(body: dict[str, Any], recorded: ModelRequest) -> tuple[int, str, list[bytes]]:
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    user_texts: list[str] = []
    prompt: str | None = None
    for message in messages:
        if message.get("role") != "user":
            continue
        texts = [text for kind, text in _anthropic_texts(message.get("content")) if kind == "text"]
        user_texts += texts
        own = [t for t in texts if not _is_reminder(t)]
        if own:
            prompt = own[-1]
    last = messages[-1] if messages else {}
    after_tool = last.get("role") == "user" and any(
        kind == "tool_result" for kind, _ in _anthropic_texts(last.get("content")))
    _record_turn(recorded, user_texts, prompt, after_tool)
    model = str(body.get("model", "claude-stand-in"))
    tools = {t.get("name") for t in body.get("tools", []) if isinstance(t, dict)}
    blocks: list[dict[str, Any]]
    if after_tool or prompt is None or not tools & {"Write", "Bash"}:
        recorded.answer = "final" if after_tool else "text"
        recorded.answer_text = describe(prompt or "")
        blocks = [{"type": "text", "text": recorded.answer_text}]
        stop = "end_turn"
    else:
        recorded.answer = "tool"
        recorded.answer_text = f"I'll write {WRITTEN_FILE[ANTHROPIC]}."
        workdir = _workdir("\n".join(_strings([body.get("system"), messages])))
        content = _tool_content(ANTHROPIC, prompt)
        if _run_shell(prompt) is not None and "Bash" in tools:
            call = {"name": "Bash", "input": {"command": _run_shell(prompt), "description": "Run the command"}}
        elif "Write" in tools and workdir:
            call = {"name": "Write", "input": {"file_path": f"{workdir}/{WRITTEN_FILE[ANTHROPIC]}",
                                               "content": content}}
        else:
            call = {"name": "Bash", "input": {"command": _shell_write(WRITTEN_FILE[ANTHROPIC], content),
                                              "description": "Write the file"}}
        blocks = [{"type": "text", "text": recorded.answer_text},
                  {"type": "tool_use", "id": f"toolu_standin{recorded.number:04d}", **call}]
        stop = "tool_use"
    usage_in, usage_out = _tokens(body), 12
    message = {"id": f"msg_standin{recorded.number:04d}", "type": "message", "role": "assistant", "model": model,
               "content": blocks, "stop_reason": stop, "stop_sequence": None,
               "usage": {"input_tokens": usage_in, "output_tokens": usage_out,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    if not body.get("stream"):
        return 200, "application/json", [_json(message)]
    start = message | {"content": [], "stop_reason": None, "usage": message["usage"] | {"output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}}))
            for piece in _pieces(block["text"]):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                       "delta": {"type": "text_delta", "text": piece}}))
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": block | {"input": {}}}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "input_json_delta",
                                                             "partial_json": json.dumps(block["input"])}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                     "usage": {"output_tokens": usage_out}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return 200, "text/event-stream", [_sse(data, name) for name, data in events]


# OpenAI Responses --------------------------------------------------------------------------------

def responses_answer(body: dict[str, Any], recorded: ModelRequest) -> tuple[int, str, list[bytes]]:
    items = [i for i in body.get("input", []) if isinstance(i, dict)]
    user_texts: list[str] = []
    prompt: str | None = None
    for item in items:
        if item.get("type", "message") != "message" or item.get("role") != "user":
            continue
        content = item.get("content")
        texts = [content] if isinstance(content, str) else [
            str(part.get("text", "")) for part in content or () if isinstance(part, dict)
            and part.get("type") in ("input_text", "text")]
        user_texts += texts
        own = [t for t in texts if not _is_codex_context(t)]
        if own:
            prompt = own[-1]
    after_tool = bool(items) and str(items[-1].get("type", "")).endswith("_call_output")
    _record_turn(recorded, user_texts, prompt, after_tool)
    tools = {_tool_name(t) for t in body.get("tools", []) if isinstance(t, dict)}
    tools |= {_tool_name(t) for i in items if i.get("type") == "additional_tools"
              for ns in i.get("tools", []) if isinstance(ns, dict) for t in ns.get("tools", []) if isinstance(t, dict)}
    response_id = f"resp_standin{recorded.number:04d}"
    out: list[dict[str, Any]] = []
    if after_tool or prompt is None or not tools & {"shell", "shell_command", "exec_command", "exec"}:
        recorded.answer = "final" if after_tool else "text"
        recorded.answer_text = describe(prompt or "")
        out.append(_responses_message(f"msg_{recorded.number}_0", recorded.answer_text))
    else:
        recorded.answer = "tool"
        recorded.answer_text = f"I'll write {WRITTEN_FILE[RESPONSES]}."
        out.append(_responses_message(f"msg_{recorded.number}_0", recorded.answer_text))
        script = _run_shell(prompt) or _shell_write(WRITTEN_FILE[RESPONSES], _tool_content(RESPONSES, prompt))
        if "exec" in tools and "exec_command" not in tools:  # code mode: JavaScript that calls the tools
            out.append({"type": "custom_tool_call", "id": f"ctc_{recorded.number}_1",
                        "call_id": f"call_{recorded.number}_1", "name": "exec", "status": "completed",
                        "input": f"text(await tools.exec_command({json.dumps({'cmd': script})}));"})
            name, arguments = "", {}
        elif "shell_command" in tools:
            name, arguments = "shell_command", {"command": script}
        elif "exec_command" in tools:
            name, arguments = "exec_command", {"cmd": script}
        else:
            name, arguments = "shell", {"command": ["bash", "-lc", script]}
        if name:
            out.append({"type": "function_call", "id": f"fc_{recorded.number}_1",
                        "call_id": f"call_{recorded.number}_1", "name": name, "arguments": json.dumps(arguments),
                        "status": "completed"})
    usage = {"input_tokens": _tokens(body), "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 12,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": _tokens(body) + 12}
    base = {"id": response_id, "object": "response", "model": body.get("model"), "output": []}
    chunks = [_sse({"type": "response.created", "response": base | {"status": "in_progress"}},
                   "response.created")]
    for index, item in enumerate(out):
        added = item | ({"content": [], "status": "in_progress"} if item["type"] == "message" else {})
        chunks.append(_sse({"type": "response.output_item.added", "output_index": index, "item": added},
                           "response.output_item.added"))
        if item["type"] == "message":
            for piece in _pieces(item["content"][0]["text"]):
                chunks.append(_sse({"type": "response.output_text.delta", "item_id": item["id"],
                                    "output_index": index, "content_index": 0, "delta": piece},
                                   "response.output_text.delta"))
        elif item["type"] == "function_call":
            chunks.append(_sse({"type": "response.function_call_arguments.done", "item_id": item["id"],
                                "output_index": index, "arguments": item["arguments"]},
                               "response.function_call_arguments.done"))
        chunks.append(_sse({"type": "response.output_item.done", "output_index": index, "item": item},
                           "response.output_item.done"))
    chunks.append(_sse({"type": "response.completed",
                        "response": base | {"status": "completed", "output": out, "usage": usage}},
                       "response.completed"))
    return 200, "text/event-stream", chunks


def _tool_name(tool: dict[str, Any]) -> str:
    if isinstance(tool.get("name"), str):
        return tool["name"]
    function = tool.get("function")
    return str(function.get("name")) if isinstance(function, dict) else str(tool.get("type"))


def _is_codex_context(text: str) -> bool:
    head = text.lstrip()
    return head.startswith(("<environment_context>", "<user_instructions>", "# AGENTS.md", "<permissions",
                            "<INSTRUCTIONS>", "<skills_instructions>", "<collaboration_mode>"))


def _responses_message(item_id: str, text: str) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


# Gemini ------------------------------------------------------------------------------------------

def gemini_answer(method: str, body: dict[str, Any], recorded: ModelRequest) -> tuple[int, str, list[bytes]]:
    if method == "countTokens":
        recorded.answer = "json"
        return 200, "application/json", [_json({"totalTokens": _tokens(body)})]
    contents = [c for c in body.get("contents", []) if isinstance(c, dict)]
    user_texts: list[str] = []
    prompt: str | None = None
    for content in contents:
        if content.get("role", "user") != "user":
            continue
        texts = [str(p["text"]) for p in content.get("parts", []) if isinstance(p, dict) and "text" in p]
        user_texts += texts
        own = [t for t in texts if not _is_gemini_context(t)]
        if own:
            prompt = "".join(own)
    last = contents[-1] if contents else {}
    after_tool = any(isinstance(p, dict) and "functionResponse" in p for p in last.get("parts", []))
    _record_turn(recorded, user_texts, prompt, after_tool)
    config = body.get("generationConfig") or body.get("config") or {}
    wants_json = isinstance(config, dict) and (
        config.get("responseMimeType") == "application/json" or "responseSchema" in config
        or "responseJsonSchema" in config)
    declared = {str(d.get("name")) for tool in body.get("tools", []) if isinstance(tool, dict)
                for d in tool.get("functionDeclarations", []) if isinstance(d, dict)}
    usage = {"promptTokenCount": _tokens(body), "candidatesTokenCount": 12, "totalTokenCount": _tokens(body) + 12}
    parts: list[dict[str, Any]]
    if wants_json:  # a side request (the model router's classifier, a check): a small JSON verdict
        recorded.answer = "json"
        schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
        recorded.answer_text = json.dumps(_fill_schema(schema))
        parts = [{"text": recorded.answer_text}]
    elif after_tool or prompt is None or not declared & {"write_file", "run_shell_command"}:
        recorded.answer = "final" if after_tool else "text"
        recorded.answer_text = describe(prompt or "")
        parts = [{"text": piece} for piece in _pieces(recorded.answer_text)]
    else:
        recorded.answer = "tool"
        recorded.answer_text = f"I'll write {WRITTEN_FILE[GEMINI]}."
        content = _tool_content(GEMINI, prompt)
        if _run_shell(prompt) is not None and "run_shell_command" in declared:
            call = {"name": "run_shell_command", "args": {"command": _run_shell(prompt)}}
        elif "write_file" in declared:
            call = {"name": "write_file", "args": {"file_path": WRITTEN_FILE[GEMINI], "content": content}}
        else:
            call = {"name": "run_shell_command", "args": {"command": _shell_write(WRITTEN_FILE[GEMINI], content)}}
        parts = [{"text": piece} for piece in _pieces(recorded.answer_text)] + [{"functionCall": call}]
    responses = [{"candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0}],
                  "modelVersion": "gemini-stand-in"} for part in parts]
    responses[-1]["candidates"][0]["finishReason"] = "STOP"
    responses[-1]["usageMetadata"] = usage
    if method != "streamGenerateContent":
        whole = {"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
                 "usageMetadata": usage, "modelVersion": "gemini-stand-in"}
        return 200, "application/json", [_json(whole)]
    return 200, "text/event-stream", [_sse(r) for r in responses]


def _fill_schema(schema: Any) -> Any:
    """The simplest value a JSON schema (OpenAPI-style, types in any case) accepts."""
    if not isinstance(schema, dict):
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _fill_schema(sub) for name, sub in properties.items()}
    return {"array": [], "string": "stand-in", "integer": 1, "number": 1, "boolean": False}.get(kind)


def _is_gemini_context(text: str) -> bool:
    head = text.lstrip()
    return head.startswith(("This is the Gemini CLI", "<session_context>", "<system-reminder>"))


# -- helpers ---------------------------------------------------------------------------------------

def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _decoded(request: h11.Request, body: bytes) -> bytes:
    encoding = dict(request.headers).get(b"content-encoding", b"").decode().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _sse(data: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _pieces(text: str, size: int = 16) -> Iterable[str]:
    """Stream text in a few deltas, as a model does."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4) if body is not None else 1


def _run_shell(prompt: str) -> str | None:
    """The command a ``RUN-SHELL: COMMAND`` prompt asks to run, else None."""
    return prompt.removeprefix("RUN-SHELL: ") if prompt.startswith("RUN-SHELL: ") else None


def _shell_write(name: str, content: str) -> str:
    return f"printf '%s' {_quote(content)} > {name}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
