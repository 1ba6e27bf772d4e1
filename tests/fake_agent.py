#!/usr/bin/env python3
"""A fake agent CLI: replays a recorded transcript so tests run real subprocesses without a model.

Usage: ``python tests/fake_agent.py --transcript FILE [--record DIR] -- <argv the hub passes>``

It prints FILE's lines on stdout (binary, flushed per line), the ``.stderr.txt`` sibling on stderr,
and exits with the ``.meta.json`` sibling's ``exit_code`` (0 without one). The prompt (the argument
after ``-p``, else the last argument; stdin when the hub pipes the prompt there, as it does for
prompts too long for one argument) may carry directives, so one fake CLI serves many test nodes:

  @fail          drop the closing line (result / turn.completed) and exit 1: a crashed agent
  @exit=N        exit with code N
  @sleep=S       sleep S seconds before printing
  @delay=S       sleep S seconds between lines
  @hang          print all but the closing line, then sleep until killed
  @until=F       before the closing line (after @lines), go on printing text messages "line N+1", ...
                 (one per @delay, else per 0.01 s) until file F exists: a stream that lasts until the
                 test releases it, however slow the machine
  @lines=N       before the closing line, add N text messages "line 1".."line N" in the transcript's format
  @garbage       before the closing line, add a non-JSON line, invalid UTF-8, a 5 MB JSON line and an
                 object of unknown type
  @child         spawn a grandchild that sleeps for an hour with our stdout (process-group cleanup)
  @setsid-child  spawn a grandchild that leaves our process group (setsid) and sleeps for an hour
  @ignore-term   ignore SIGTERM (SIGKILL escalation)
  @crash         print nothing and exit 3
  @result=WORD   the final answer becomes WORD (applied after @lines/@garbage, so it wins)
  @result-file=F the final answer becomes the text of file F (newlines and all), as @result
  @write=F:T,..  write file F (relative to the working directory) containing T, before printing
  @costs=C1,C2   (claude) before the closing line, one interim `result` line per cost, as a
                 multi-turn session reports its growing total_cost_usd

Resumed (``--resume`` or ``resume`` in its argv), it resolves the merge-conflict markers it finds in the
files of its working directory by keeping both sides, its own first, as an agent repairing a merge
would; a file in which a conflicting side says ``@stubborn`` is left as it is (a repair that fails).

With ``--record DIR`` it first writes ``DIR/<pid>.json``: argv, cwd, env, prompt, pid, the files of
its working directory (``files``, name -> text, ``.git`` left out), ``prompt_on_stdin`` (and
``child_pid`` / ``setsid_child_pid`` once @child / @setsid-child has spawned). Stdlib only: it
runs under whatever Python the tests use. ``install()`` writes the executable wrapper that lets the
hub run it as ``claude``/``codex``/``gemini``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DIRECTIVE = re.compile(r"(?:^|(?<=\s))@([a-z][a-z-]*)(?:=(\S+))?")
CLOSING = {"claude": {"result"}, "codex": {"turn.completed", "turn.failed"}, "gemini": {"result"}}
FORMAT_OF_TYPE = {
    "system": "claude",
    "assistant": "claude",
    "user": "claude",
    "stream_event": "claude",
    "thread.started": "codex",
    "turn.started": "codex",
    "turn.completed": "codex",
    "turn.failed": "codex",
    "item.completed": "codex",
    "init": "gemini",
    "message": "gemini",
}


def main(argv: list[str]) -> int:
    own, passed = split_argv(argv)
    parser = argparse.ArgumentParser(prog="fake_agent")
    parser.add_argument("--transcript", required=True, type=Path)
    parser.add_argument("--record", type=Path)
    args = parser.parse_args(own)
    if passed == ["--version"]:  # the hub's availability check: answer like a CLI, record nothing
        print(f"fake-agent 1.0 replaying {args.transcript.name}")
        return 0

    piped = stat.S_ISFIFO(os.fstat(0).st_mode)
    prompt = sys.stdin.read() if piped else find_prompt(passed)
    record: dict[str, Any] = {
        "argv": passed,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "prompt": prompt,
        "prompt_on_stdin": piped,
        "pid": os.getpid(),
        "files": workspace_files(Path.cwd()),
    }
    if args.record:
        write_record(args.record, record)

    d = directives(prompt)
    if "--resume" in passed or "resume" in passed:
        resolve_conflicts(Path.cwd())
    for spec in filter(None, d.get("write", "").split(",")):
        name, _, text = spec.partition(":")
        (Path.cwd() / name).write_text(text + "\n")
    if "ignore-term" in d:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "crash" in d:
        return 3
    if "sleep" in d:
        time.sleep(float(d["sleep"]))
    if "child" in d:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL
        )
        record["child_pid"] = child.pid
        if args.record:
            write_record(args.record, record)
    if "setsid-child" in d:
        escapee = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        record["setsid_child_pid"] = escapee.pid
        if args.record:
            write_record(args.record, record)

    data = args.transcript.read_bytes()
    lines = data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n") if data else []
    meta = sibling(args.transcript, ".meta.json")
    exit_code = json.loads(meta.read_text())["exit_code"] if meta.exists() else 0
    stderr = sibling(args.transcript, ".stderr.txt")
    if stderr.exists():
        sys.stderr.buffer.write(stderr.read_bytes())
        sys.stderr.flush()

    fmt = detect_format(lines)
    closing = closing_index(lines, fmt)
    transcript = list(lines)  # the recording alone: text_line reads it for each line it makes
    extra: list[bytes] = []
    if "lines" in d:
        extra += [text_line(fmt, i, lines) for i in range(1, int(d["lines"]) + 1)]
    if "garbage" in d:
        extra += garbage_lines()
    if "costs" in d:
        extra += [cost_line(float(c)) for c in d["costs"].split(",")]
    lines[closing:closing] = extra
    closing += len(extra)
    if "result" in d:
        lines = replace_result(lines, fmt, d["result"])
        closing = closing_index(lines, fmt)
    if "result-file" in d:
        lines = replace_result(lines, fmt, Path(d["result-file"]).read_text())
        closing = closing_index(lines, fmt)
    if "fail" in d:
        del lines[closing : closing + 1]
        exit_code = 1
    if "exit" in d:
        exit_code = int(d["exit"])

    out = sys.stdout.buffer
    try:
        shown = lines[:closing] if "hang" in d else lines
        for i, line in enumerate(shown):
            if i == closing and "until" in d:
                print_until(Path(d["until"]), fmt, transcript, int(d.get("lines", 0)), float(d.get("delay", 0.01)))
            if i and "delay" in d:
                time.sleep(float(d["delay"]))
            out.write(line + b"\n")
            out.flush()
        if closing >= len(shown) and "until" in d:
            print_until(Path(d["until"]), fmt, transcript, int(d.get("lines", 0)), float(d.get("delay", 0.01)))
        while "hang" in d:
            time.sleep(3600)
    except BrokenPipeError:
        return exit_code
    return exit_code


def print_until(release: Path, fmt: str, lines: list[bytes], after: int, delay: float) -> None:
    """Text messages numbered from ``after + 1``, one per ``delay`` seconds, until ``release`` exists."""
    n = after
    while not release.exists():
        n += 1
        time.sleep(delay)
        sys.stdout.buffer.write(text_line(fmt, n, lines) + b"\n")
        sys.stdout.buffer.flush()


def install(bin_dir: Path, name: str, transcript: Path, record: Path | None = None) -> Path:
    """Write ``bin_dir/name``, a shell script that runs this fake with ``transcript``; returns it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--transcript", str(transcript)]
    if record is not None:
        cmd += ["--record", str(record)]
    script = Path(bin_dir) / name
    script.write_text(f'#!/bin/sh\nexec {shlex.join(cmd)} -- "$@"\n')
    script.chmod(0o755)
    return script


def resolve_conflicts(root: Path) -> None:
    """Keep both sides of every conflict (ours first, the merge base's lines dropped), markers removed."""
    for name, text in workspace_files(root).items():
        if "<<<<<<< " not in text:
            continue
        out: list[str] = []
        side: str | None = None
        stubborn = False
        for line in text.splitlines(keepends=True):
            if line.startswith("<<<<<<< "):
                side = "ours"
            elif side is not None and line.startswith("||||||| "):
                side = "base"
            elif side is not None and line.rstrip("\n") == "=======":
                side = "theirs"
            elif side is not None and line.startswith(">>>>>>> "):
                side = None
            elif side != "base":
                stubborn = stubborn or (side is not None and "@stubborn" in line)
                out.append(line)
        if not stubborn:
            (root / name).write_text("".join(out))


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our own options before ``--``, the CLI's argv after it."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def find_prompt(argv: list[str]) -> str:
    if "-p" in argv and argv.index("-p") + 1 < len(argv):
        return argv[argv.index("-p") + 1]
    return argv[-1] if argv else ""


def workspace_files(root: Path, limit: int = 200) -> dict[str, str]:
    """Small files of the working directory (a workspace in the tests), without hidden directories."""
    files: dict[str, str] = {}
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(directory, name)
            if name != ".git" and path.stat().st_size <= 65536:
                files[str(path.relative_to(root))] = path.read_text(errors="replace")
            if len(files) >= limit:
                return files
    return files


def cost_line(cost: float) -> bytes:
    """An interim claude ``result`` carrying the session's total cost so far."""
    return json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "working",
                       "total_cost_usd": cost, "usage": {"input_tokens": 10, "output_tokens": 10}}).encode()


def directives(prompt: str) -> dict[str, str]:
    return {m.group(1): m.group(2) or "" for m in DIRECTIVE.finditer(prompt)}


def write_record(directory: Path, record: dict[str, Any]) -> None:
    """Atomically, so a test polling the directory never reads half a file. In a sandbox the test's
    directory is out of sight (ORCHESTRA_TEST_SANDBOX=bwrap): the agent runs on, unrecorded."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{record['pid']}.json.tmp"
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, directory / f"{record['pid']}.json")
    except OSError:
        pass


def sibling(transcript: Path, suffix: str) -> Path:
    return transcript.with_name(transcript.name.rsplit(".", 1)[0] + suffix)


def parse(line: bytes) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def detect_format(lines: list[bytes]) -> str:
    for line in lines:
        fmt = FORMAT_OF_TYPE.get(str((parse(line) or {}).get("type")))
        if fmt:
            return fmt
    return "text"


def closing_index(lines: list[bytes], fmt: str) -> int:
    """Index of the closing line; len(lines) when there is none (text, or a broken transcript)."""
    for i in range(len(lines) - 1, -1, -1):
        if (parse(lines[i]) or {}).get("type") in CLOSING.get(fmt, ()):
            return i
    return len(lines)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def text_line(fmt: str, i: int, lines: list[bytes]) -> bytes:
    """Assistant text message ``line <i>`` in the transcript's own format."""
    text = f"line {i}"
    if fmt == "claude":
        objs = [obj for obj in map(parse, lines) if obj]
        session_id = next((obj["session_id"] for obj in objs if "session_id" in obj), None)
        message = {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}]}
        return dumps({"type": "assistant", "message": message, "session_id": session_id})
    if fmt == "codex":
        item = {"id": f"item_fake_{i}", "type": "agent_message", "text": text}
        return dumps({"type": "item.completed", "item": item})
    if fmt == "gemini":
        return dumps({"type": "message", "role": "assistant", "content": text, "delta": True})
    return text.encode()


def garbage_lines() -> list[bytes]:
    noise = random.Random(0).randbytes(200).replace(b"\n", b"").replace(b"\r", b"")
    return [
        b"this is not JSON {",
        b"\xff\xfe\xc3\x28" + noise,
        dumps({"type": "fake_padding", "padding": "x" * (5 * 1024 * 1024)}),
        dumps({"type": "fake_unknown_type", "value": 1}),
    ]


def replace_result(lines: list[bytes], fmt: str, word: str) -> list[bytes]:
    """Make ``word`` the final answer the parser will see."""
    objs = [parse(line) for line in lines]
    if fmt == "claude":
        for i, obj in enumerate(objs):
            if obj and obj.get("type") == "result":
                lines[i] = dumps({**obj, "result": word})
        last = max((i for i, o in enumerate(objs) if o and _claude_text(o)), default=None)
        if last is not None:
            obj = objs[last]
            message = obj["message"]
            content = [{**b, "text": word} if b.get("type") == "text" else b for b in message["content"]]
            lines[last] = dumps({**obj, "message": {**message, "content": content}})
    elif fmt == "codex":
        last = max((i for i, o in enumerate(objs) if o and _codex_text(o)), default=None)
        if last is not None:
            obj = objs[last]
            lines[last] = dumps({**obj, "item": {**obj["item"], "text": word}})
    elif fmt == "gemini":
        last_tool = max((i for i, o in enumerate(objs) if o and o.get("type") == "tool_use"), default=-1)
        chunks = [i for i, o in enumerate(objs) if i > last_tool and o and _gemini_text(o)]
        if chunks:
            lines[chunks[0]] = dumps({**objs[chunks[0]], "content": word})
            drop = set(chunks[1:])
            lines = [line for i, line in enumerate(lines) if i not in drop]
    else:
        last = max((i for i, line in enumerate(lines) if line.strip()), default=None)
        if last is None:
            lines.append(word.encode())
        else:
            lines[last] = word.encode()
    return lines


def _claude_text(obj: dict[str, Any]) -> bool:
    message = obj.get("message")
    return (
        obj.get("type") == "assistant"
        and isinstance(message, dict)
        and any(isinstance(b, dict) and b.get("type") == "text" for b in message.get("content") or [])
    )


def _codex_text(obj: dict[str, Any]) -> bool:
    item = obj.get("item")
    return (
        isinstance(item, dict) and obj.get("type") == "item.completed" and item.get("type") == "agent_message"
    )


def _gemini_text(obj: dict[str, Any]) -> bool:
    return obj.get("type") == "message" and obj.get("role") == "assistant"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
