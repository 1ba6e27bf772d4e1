"""The fake agent CLI, run as a real subprocess: replay, recording, and the prompt directives."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestra.agents import AgentParser, make_parser

FAKE = Path(__file__).parent / "fake_agent.py"
FIXTURES = Path(__file__).parent / "fixtures" / "agent-transcripts"
FORMAT = {"claude": "claude-stream-json", "codex": "codex-json", "gemini": "gemini-stream-json"}


def command(transcript: Path, *cli_argv: str, record: Path | None = None) -> list[str]:
    cmd = [sys.executable, str(FAKE), "--transcript", str(transcript)]
    if record is not None:
        cmd += ["--record", str(record)]
    return [*cmd, "--", *cli_argv]


def run(case: str, prompt: str) -> subprocess.CompletedProcess[bytes]:
    cli = case.split("-")[0]
    cmd = command(FIXTURES / f"{case}.jsonl", cli, "-p", prompt, "--output-format", "stream-json")
    return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)


def parsed(case: str, proc: subprocess.CompletedProcess[bytes]) -> tuple[AgentParser, list[dict]]:
    parser = make_parser(FORMAT[case.split("-")[0]])
    lines = [line.decode("utf-8", "replace") for line in proc.stdout.split(b"\n")[:-1]]
    events = [e for line in lines for e in parser.feed(line)]
    events += parser.finish(proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return parser, events


def test_replays_stdout_stderr_and_exit_code() -> None:
    proc = run("gemini-http500", "Create hello.txt containing hi")
    assert proc.stdout == (FIXTURES / "gemini-http500.jsonl").read_bytes()
    assert proc.stderr == (FIXTURES / "gemini-http500.stderr.txt").read_bytes()
    assert proc.returncode == 244


def test_records_the_invocation(tmp_path: Path) -> None:
    record = tmp_path / "calls"
    argv = ["exec", "--json", "-m", "gpt-5.5", "hello @exit=7"]
    env = {**os.environ, "ORCHESTRA_TEST_MARKER": "42"}
    proc = subprocess.run(
        command(FIXTURES / "codex-tool.jsonl", *argv, record=record),
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    assert proc.returncode == 7
    (path,) = record.glob("*.json")
    call = json.loads(path.read_text())
    assert call["argv"] == argv
    assert call["prompt"] == "hello @exit=7"  # no -p: the last argument
    assert call["cwd"] == str(tmp_path)
    assert call["env"]["ORCHESTRA_TEST_MARKER"] == "42"
    assert path.name == f"{call['pid']}.json"


def test_install_writes_an_executable_cli(tmp_path: Path) -> None:
    from fake_agent import install

    record = tmp_path / "calls"
    claude = install(tmp_path, "claude", FIXTURES / "claude-tool.jsonl", record=record)
    proc = subprocess.run([str(claude), "-p", "it's a 'quoted' prompt", "--verbose"], capture_output=True)
    assert (proc.returncode, proc.stdout) == (0, (FIXTURES / "claude-tool.jsonl").read_bytes())
    (path,) = record.glob("*.json")
    assert json.loads(path.read_text())["argv"] == ["-p", "it's a 'quoted' prompt", "--verbose"]


def test_fail_drops_the_final_result_and_exits_1() -> None:
    proc = run("codex-tool", "@fail")
    parser, events = parsed("codex-tool", proc)
    assert proc.returncode == 1
    assert b"turn.completed" not in proc.stdout
    assert parser.report.succeeded is False
    assert events[-1]["message"].startswith("codex exited with code 1 without a final result")


@pytest.mark.parametrize("case", ["claude-tool", "codex-tool", "gemini-tool"])
def test_lines_are_written_in_the_transcript_format(case: str) -> None:
    parser, events = parsed(case, run(case, "@lines=3"))
    texts = [e["text"] for e in events if e["kind"] == "text"]
    assert texts[-3:] == ["line 1", "line 2", "line 3"]
    assert parser.report.succeeded is True


@pytest.mark.parametrize("case", ["claude-tool", "codex-tool", "gemini-tool", "gemini-midstream"])
def test_result_replaces_the_final_answer(case: str) -> None:
    parser, _ = parsed(case, run(case, "Create it @lines=2 @result=WORD"))
    assert parser.report.result_text == "WORD"


def test_garbage_lines_reach_the_parser_as_raw() -> None:
    proc = run("claude-tool", "@garbage")
    parser, events = parsed("claude-tool", proc)
    raw = [e for e in events if e["kind"] == "raw"]
    assert len(raw) == 4
    assert raw[0]["line"] == "this is not JSON {"
    assert "\ufffd" in raw[1]["line"]
    assert raw[2]["truncated"] > 5 * 1024 * 1024
    assert json.loads(raw[3]["line"])["type"] == "fake_unknown_type"
    assert parser.report.succeeded is True


def test_crash_prints_nothing() -> None:
    proc = run("claude-tool", "@crash")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, b"", b"")


def test_text_transcript(tmp_path: Path) -> None:
    transcript = tmp_path / "notes.txt"
    transcript.write_text("first\nsecond\n")
    proc = subprocess.run(command(transcript, "aider", "go @lines=2 @result=DONE"), capture_output=True)
    assert (proc.returncode, proc.stdout) == (0, b"first\nsecond\nline 1\nDONE\n")


def test_hang_and_ignore_term() -> None:
    transcript = FIXTURES / "codex-tool.jsonl"
    proc = subprocess.Popen(
        command(transcript, "codex", "@hang @ignore-term"), stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == transcript.read_bytes().split(b"\n")[0] + b"\n"
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def test_child_keeps_stdout_open_until_its_group_is_killed(tmp_path: Path) -> None:
    cmd = command(FIXTURES / "codex-tool.jsonl", "codex", "@child", record=tmp_path)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    try:
        assert proc.wait(timeout=30) == 0
        (path,) = tmp_path.glob("*.json")
        child = json.loads(path.read_text())["child_pid"]
        os.kill(child, 0)  # still running after the agent exited
        assert not at_eof(proc.stdout.fileno(), timeout=0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    assert at_eof(proc.stdout.fileno(), timeout=10)
    proc.stdout.close()


def at_eof(fd: int, timeout: float) -> bool:
    """Drain ``fd``; True once every writer has closed it, False if still open after ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0] and os.read(fd, 1 << 16) == b"":
            return True
    return False
