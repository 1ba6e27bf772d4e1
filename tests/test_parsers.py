"""Replays the real CLI transcripts (tests/fixtures/agent-transcripts) through their parsers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestra.agents import OUTPUT_FORMATS, AgentParser, AgentReport, make_parser
from orchestra.agents.base import MAX_TEXT

FIXTURES = Path(__file__).parent / "fixtures" / "agent-transcripts"
FORMAT = {"claude": "claude-stream-json", "codex": "codex-json", "gemini": "gemini-stream-json"}
CASES = sorted(p.stem for p in FIXTURES.glob("*.jsonl"))

CLAUDE_SESSION = "626745bb-6241-46ee-ad5d-21a2bdc53426"
WRITE_HELLO = {"file_path": "/home/dev/project/hello.txt", "content": "hi"}
DONE = "Done: created hello.txt containing hi."


@dataclass
class Replay:
    events: list[dict[str, Any]]  # from feed()
    closing: list[dict[str, Any]]  # from finish()
    report: AgentReport

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events + self.closing if e["kind"] == kind]

    def texts(self) -> list[str]:
        return [e["text"] for e in self.of("text")]

    def tool_uses(self) -> list[tuple[str, Any]]:
        return [(e["name"], e["input"]) for e in self.of("tool_use")]


def stdout_lines(data: bytes) -> list[str]:
    """Split like the hub does: on b"\\n" only, each line decoded with errors="replace"."""
    return [line.decode("utf-8", "replace") for line in data.split(b"\n")[:-1]]


def feed_all(parser: AgentParser, lines: list[str]) -> list[dict[str, Any]]:
    return [e for line in lines for e in parser.feed(line)]


def replay(case: str, lines: list[str] | None = None, exit_code: int | None = None) -> Replay:
    parser = make_parser(FORMAT[case.split("-")[0]])
    if lines is None:
        lines = stdout_lines((FIXTURES / f"{case}.jsonl").read_bytes())
    if exit_code is None:
        exit_code = json.loads((FIXTURES / f"{case}.meta.json").read_text())["exit_code"]
    events = feed_all(parser, lines)
    closing = parser.finish(exit_code, (FIXTURES / f"{case}.stderr.txt").read_text())
    return Replay(events, closing, parser.report)


@pytest.mark.parametrize("case", CASES)
def test_every_transcript_is_understood(case: str) -> None:
    r = replay(case)
    assert r.of("raw") == []
    assert not [e for e in r.of("error") if e["message"].startswith("parser error")]
    assert all(v is not None for e in r.events + r.closing for v in e.values())
    assert r.report.succeeded is (r.report.error is None)


def test_claude_tool() -> None:
    r = replay("claude-tool")
    assert r.events[0] == {
        "kind": "system",
        "subtype": "init",
        "session_id": CLAUDE_SESSION,
        "model": "claude-sonnet-4-5",
    }
    assert r.texts() == ["I'll create the file.", DONE]
    assert r.tool_uses() == [("Write", WRITE_HELLO)]
    (use,) = r.of("tool_use")
    (result,) = r.of("tool_result")
    assert result["tool_use_id"] == use["id"] == "toolu_mockc8dfe4c73e22436ba4d76ebe"
    assert result["output"].startswith("File created successfully at: /home/dev/project/hello.txt")
    assert result["is_error"] is False
    assert r.of("usage") == [{"kind": "usage", "input_tokens": 50, "output_tokens": 24, "cost_usd": 0.00051}]
    assert r.events[-1] == {"kind": "system", "subtype": "result", "is_error": False, "text": DONE}
    assert r.closing == []
    assert r.report == AgentReport(
        session_id=CLAUDE_SESSION,
        model="claude-sonnet-4-5",
        result_text=DONE,
        input_tokens=50,
        output_tokens=24,
        cost_usd=0.00051,
        final_seen=True,
        error=None,
        succeeded=True,
        worked=True,
    )


def test_claude_partial_messages_yield_the_same_events_as_whole_ones() -> None:
    partial, whole = replay("claude-partial"), replay("claude-tool")

    def content(r: Replay) -> list[tuple[Any, ...]]:
        kinds = ("text", "tool_use", "tool_result", "usage")
        return [
            (e["kind"], e.get("text"), e.get("name"), e.get("input")) for e in r.events if e["kind"] in kinds
        ]

    assert content(partial) == content(whole)
    assert [e.get("message") for e in partial.of("system") if e["subtype"] == "status"] == ["requesting"] * 2
    assert partial.report.result_text == DONE
    assert partial.report.session_id == "f55a6313-b8f4-4d29-b6ad-fcec0ea6ee4b"
    assert partial.report.succeeded is True


def test_claude_resume_continues_the_session() -> None:
    r = replay("claude-resume")
    assert r.report.session_id == CLAUDE_SESSION
    assert r.texts() == ["Hello from the mock."]
    assert r.tool_uses() == []
    assert (r.report.input_tokens, r.report.output_tokens) == (25, 12)
    assert r.report.cost_usd == pytest.approx(0.000765)
    assert r.report.succeeded is True


def test_claude_http401_fails_although_subtype_says_success() -> None:
    r = replay("claude-http401")
    assert r.report.final_seen is True
    assert r.report.succeeded is False
    assert r.report.error == "Invalid API key · Fix external API key"
    assert r.of("error") == [{"kind": "error", "message": "Invalid API key · Fix external API key"}]
    assert r.texts() == []  # the CLI's stand-in message is an error, not an answer
    assert r.events[-1]["is_error"] is True


def test_claude_root_refusal_says_to_run_as_an_ordinary_user() -> None:
    r = replay("claude-root-refusal")
    assert r.events == []
    (error,) = r.closing
    assert error["kind"] == "error"
    assert "non-root" in error["message"] and "systemd" in error["message"]
    assert "cannot be used with root/sudo privileges" in error["message"]
    assert r.report.error == error["message"]
    assert r.report.final_seen is False
    assert r.report.succeeded is False


def test_codex_tool() -> None:
    r = replay("codex-tool")
    assert r.events[0] == {
        "kind": "system",
        "subtype": "init",
        "session_id": "01a213b0-c209-7b93-8b91-6bb0d0f603ed",
    }
    assert r.texts() == ["I'll create the file.", DONE]
    assert r.tool_uses() == [("shell", {"command": "/bin/bash -lc 'printf hi > hello.txt'"})]
    assert r.of("tool_result") == [
        {"kind": "tool_result", "tool_use_id": "item_1", "output": "", "is_error": False, "exit_code": 0}
    ]
    assert r.of("usage") == [{"kind": "usage", "input_tokens": 60, "output_tokens": 24}]
    o = r.report
    assert (o.session_id, o.result_text, o.cost_usd, o.succeeded) == (
        "01a213b0-c209-7b93-8b91-6bb0d0f603ed",
        DONE,
        None,
        True,
    )


def test_codex_patch() -> None:
    r = replay("codex-patch")
    assert r.tool_uses() == [
        ("file_change", {"changes": [{"path": "/home/dev/project/hello.txt", "kind": "add"}]})
    ]
    (result,) = r.of("tool_result")
    assert result == {
        "kind": "tool_result",
        "tool_use_id": "item_1",
        "output": "add /home/dev/project/hello.txt",
        "is_error": False,
    }
    assert r.texts() == ["I'll create the file.", DONE]
    assert (r.report.input_tokens, r.report.output_tokens, r.report.succeeded) == (60, 24, True)


def test_codex_http401() -> None:
    r = replay("codex-http401")
    (error,) = r.of("error")  # the `error` line and turn.failed carry the same message: one event
    assert error["message"].startswith("unexpected status 401 Unauthorized: Incorrect API key provided")
    assert r.report.error == error["message"]
    assert r.report.final_seen is True
    assert r.report.succeeded is False
    assert r.events[-1] == {"kind": "system", "subtype": "result", "is_error": True, "text": error["message"]}


def test_codex_retried_error_does_not_fail_a_completed_turn() -> None:
    lines = stdout_lines((FIXTURES / "codex-tool.jsonl").read_bytes())
    lines.insert(2, json.dumps({"type": "error", "message": "Reconnecting... 1/5"}))
    r = replay("codex-tool", lines)
    assert r.of("error") == [{"kind": "error", "message": "Reconnecting... 1/5"}]
    assert r.report.error is None
    assert r.report.succeeded is True


def test_gemini_tool() -> None:
    r = replay("gemini-tool")
    assert r.events[0] == {
        "kind": "system",
        "subtype": "init",
        "session_id": "d8328be1-5bfb-48fb-9362-8d7bf9283795",
        "model": "auto",
    }
    assert all(e["delta"] is True for e in r.of("text"))
    assert r.texts() == [
        "I'll ",
        "create ",
        "the ",
        "file.",
        "Done: ",
        "created ",
        "hello.txt ",
        "containing ",
        "hi.",
    ]
    assert "Create hello.txt containing hi" not in r.texts()  # the user echo is not assistant text
    assert r.tool_uses() == [("write_file", WRITE_HELLO)]
    assert r.of("tool_result") == [
        {
            "kind": "tool_result",
            "tool_use_id": "write_file__write_file_1795626711993_0",
            "output": "",
            "is_error": False,
        }
    ]
    assert r.report.result_text == DONE  # only the text after the last tool call
    assert r.of("usage") == [{"kind": "usage", "input_tokens": 90, "output_tokens": 36}]
    assert (r.report.cost_usd, r.report.succeeded) == (None, True)


def test_gemini_http500() -> None:
    r = replay("gemini-http500")
    (error,) = r.of("error")
    assert "An internal error has occurred. (mock)" in error["message"] and "500" in error["message"]
    assert r.report.error == error["message"]
    assert r.report.final_seen is True
    assert r.report.succeeded is False


def test_gemini_midstream_fails_despite_exit_0() -> None:
    r = replay("gemini-midstream")
    assert r.of("error") == [{"kind": "error", "message": "Model stream ended without a finish reason."}]
    assert r.report.error == "Model stream ended without a finish reason."
    assert r.report.result_text == "Hello "
    assert r.report.succeeded is False


def test_missing_final_result_is_an_error_with_the_stderr_tail() -> None:
    lines = stdout_lines((FIXTURES / "claude-tool.jsonl").read_bytes())[:-1]
    parser = make_parser("claude-stream-json")
    feed_all(parser, lines)
    closing = parser.finish(1, "warming up\nTypeError: boom\n")
    assert closing == [
        {
            "kind": "error",
            "message": "claude exited with code 1 without a final result: warming up | TypeError: boom",
        }
    ]
    assert parser.report.error == closing[0]["message"]
    assert parser.report.succeeded is False


def test_killed_agent_names_the_signal() -> None:
    lines = stdout_lines((FIXTURES / "gemini-tool.jsonl").read_bytes())[:3]
    r = replay("gemini-tool", lines, exit_code=-9)
    assert r.closing[0]["message"].startswith("gemini exited with code -9 (SIGKILL) without a final result")
    assert r.report.succeeded is False


def test_nonzero_exit_after_a_good_result_is_not_success() -> None:
    r = replay("codex-tool", exit_code=2)
    assert r.report.final_seen is True
    assert r.report.succeeded is False
    assert r.closing[0]["message"].startswith("codex exited with code 2 after its final result")


BAD_SHAPES = {
    "claude-stream-json": {"type": "assistant", "message": 5},
    "codex-json": {"type": "item.completed", "item": 5},
    "gemini-stream-json": {"type": "tool_use", "tool_id": 5},
}


@pytest.mark.parametrize("fmt", sorted(BAD_SHAPES))
def test_hostile_lines_become_raw_or_error_events(fmt: str) -> None:
    parser = make_parser(fmt)
    garbage = (b"\xff\xfe\xc3\x28 \x00\x9f" + bytes(range(128, 256))).decode("utf-8", "replace")
    big = json.dumps({"type": "fake_padding", "padding": "x" * 5_000_000})
    for line in [
        "not json {",
        "[1, 2, 3]",
        garbage,
        '{"type": "from_the_future"}',
        '{"type": [1]}',
        "null",
        "",
        "[" * 50_000,  # nested too deep for json.loads
    ]:
        assert parser.feed(line) == [{"kind": "raw", "line": line}]
    assert parser.feed(big) == [{"kind": "raw", "line": big[:MAX_TEXT], "truncated": len(big)}]

    error, raw = parser.feed(json.dumps(BAD_SHAPES[fmt]))
    assert error["kind"] == "error" and error["message"].startswith("parser error: ")
    assert raw == {"kind": "raw", "line": json.dumps(BAD_SHAPES[fmt])}
    assert parser.report.error is None  # a line we could not read is not the CLI reporting an error
    assert parser.report == AgentReport()


def test_long_tool_output_is_capped() -> None:
    parser = make_parser("claude-stream-json")
    blocks = [{"type": "text", "text": "é" * MAX_TEXT}, {"type": "image", "source": {}}]
    line = {"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": blocks, "is_error": True}
    ]}}  # fmt: skip
    (result,) = parser.feed(json.dumps(line))
    assert result["truncated"] is True and result["is_error"] is True
    assert len(result["output"].encode()) == MAX_TEXT and result["output"] == "é" * (MAX_TEXT // 2)


def test_claude_api_retry_is_a_system_event() -> None:
    parser = make_parser("claude-stream-json")
    line = {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10, "error_status": 500}
    (e,) = parser.feed(json.dumps(line))
    assert e == {"kind": "system", "subtype": "api_retry", "message": "retrying API call (attempt 1/10): 500"}


def test_text_format() -> None:
    parser = make_parser("text")
    lines = ["hello", "", "\x00 binary \ufffd", *(f"line {i:06d}" for i in range(20_000))]
    assert feed_all(parser, lines)[:2] == [{"kind": "text", "text": "hello"}, {"kind": "text", "text": ""}]
    assert parser.finish(0, "") == []
    o = parser.report
    assert o.succeeded is True and o.error is None and o.final_seen is False
    assert o.result_text is not None and len(o.result_text) == MAX_TEXT
    assert o.result_text.endswith("line 019998\nline 019999")


def test_text_format_failure_reports_exit_code_and_stderr() -> None:
    parser = make_parser("text")
    parser.feed("partial output")
    (error,) = parser.finish(2, "Traceback ...\nValueError: nope\n")
    assert error == {"kind": "error", "message": "agent exited with code 2: Traceback ... | ValueError: nope"}
    assert parser.report.succeeded is False
    assert parser.report.result_text == "partial output"


def test_make_parser() -> None:
    assert OUTPUT_FORMATS == ("claude-stream-json", "codex-json", "gemini-stream-json", "text")
    assert {make_parser(f).output_format for f in OUTPUT_FORMATS} == set(OUTPUT_FORMATS)
    assert make_parser("codex-json") is not make_parser("codex-json")
    with pytest.raises(ValueError, match="unknown output format 'aider'"):
        make_parser("aider")
