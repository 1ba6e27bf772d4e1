"""The built-in ``demo`` agent: a stand-in for Claude Code that needs no CLI, no key and no network.

Run as ``python -I demo_agent.py PROMPT [--resume SESSION] [--model M]`` (standard library only; the prompt on
stdin when it is not an argument), it "works" for a couple of seconds and prints what ``claude -p
--output-format stream-json`` prints, so the ``claude-stream-json`` parser reads it unchanged: an
``init`` line with its session id, assistant text, a ``Write`` tool call and its result, and a closing
``result`` with token counts and a cost of 0. It exists so that a newcomer can try every feature of the
hub (the README's walk-through, gates, checks and repairs, candidates, plans, flows, triggers) on a
fresh machine in a minute.

What it does, so that the features have something real to show:

- It writes one file in its working directory (the node's workspace or git worktree): the file the
  prompt names (``Write PLAN.md …`` writes ``PLAN.md``), else ``demo-notes.md``. The file holds a
  ``TODO`` line: a check such as ``["sh", "-c", "! grep -q TODO demo-notes.md"]`` fails on the first
  turn. A repair turn (the hub's repair prompt, sent with ``--resume``) turns every ``TODO`` into
  ``done``, so the same check passes after one repair.
- Asked for a plan (the plan node's task-list instruction), it answers with a task list of three tasks.
- ``--resume SESSION`` continues that session: it keeps the session id (nothing is stored: a session
  is only its id).

It needs only the Python interpreter and this package (both read-only) and its working directory, so
it runs unchanged inside a sandbox. ``DEMO_AGENT_SECONDS`` (in the template's ``env``) sets how long it
"works" (default 2).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

VERSION = "orchestra demo agent 1.0"
MODEL = "demo"
NOTES = "demo-notes.md"
MARKER = "Written by the demo agent"
# "Write NAME.ext" (create, edit, update) on the prompt's first line: the file this turn writes. No
# backtracking blow-up: the path's parts are separated by a literal slash, the extension is bounded, and
# only the first line (at most 2,000 characters) is searched.
_FILE_NAME = re.compile(r"\b(?:write|create|edit|update)\s+([\w-]+(?:/[\w-]+)*\.[A-Za-z]{1,5})\b", re.IGNORECASE)
_PLAN_INSTRUCTION = "Answer with your plan as a task list"
_REPAIR_PROMPT = "Fix the work so that it passes"


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def pause(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


def target_file(prompt: str, cwd: Path) -> Path:
    """The file this turn writes: the first relative file name in the prompt, else ``demo-notes.md``."""
    match = _FILE_NAME.search(first_line(prompt, 2000))
    return cwd / match.group(1) if match else cwd / NOTES


def first_line(prompt: str, limit: int = 120) -> str:
    for line in prompt[:10_000].splitlines():
        if line.strip():
            return line.strip()[:limit]
    return "(an empty prompt)"


def plan_answer(prompt: str) -> str:
    topic = first_line(prompt)
    return json.dumps({"tasks": [
        {"id": "design", "title": "Design", "prompt": f"Write DESIGN.md for: {topic}", "depends_on": []},
        {"id": "build", "title": "Build", "prompt": f"Write BUILD.md: implement {topic}", "depends_on": ["design"]},
        {"id": "test", "title": "Test", "prompt": f"Write TESTS.md: test {topic}", "depends_on": ["design"]},
    ]})


def do_turn(prompt: str, session: str, resumed: bool, cwd: Path, seconds: float) -> str:
    """One turn: text, a Write tool call and its result, the answer. Returns the answer."""
    step = seconds / 3
    message_id = f"msg_demo{uuid.uuid4().hex[:20]}"

    def assistant(content: list[dict[str, Any]]) -> None:
        emit({"type": "assistant", "session_id": session, "parent_tool_use_id": None,
              "message": {"id": message_id, "type": "message", "role": "assistant", "model": MODEL,
                          "content": content, "usage": {"input_tokens": 0, "output_tokens": 0}}})

    repairing = _REPAIR_PROMPT in prompt
    planning = _PLAN_INSTRUCTION in prompt
    # A repair fixes every file it left unfinished: in a shared (non-git) workspace, other nodes' files
    # (a plan's DESIGN.md, …) may hold a TODO too, and fixing only the first of them would leave the
    # one the check looks at as it was.
    paths = (unfinished_files(cwd) or [cwd / NOTES]) if repairing else [target_file(prompt, cwd)]
    names = ", ".join(path.relative_to(cwd).as_posix() for path in paths)
    opening = ("Continuing the session: " if resumed else "") + (
        f"the check failed, so I will fix {names}." if repairing else
        "I will draft a plan as a task list." if planning else
        f"I will work on: {first_line(prompt)}")
    pause(step)
    assistant([{"type": "text", "text": opening}])
    pause(step)
    for path in paths:
        content = write_file(path, prompt, session, repairing)
        tool_id = f"toolu_demo{uuid.uuid4().hex[:20]}"
        written = f"File written: {path.relative_to(cwd).as_posix()}"
        assistant([{"type": "tool_use", "id": tool_id, "name": "Write",
                    "input": {"file_path": str(path), "content": content}}])
        emit({"type": "user", "session_id": session, "parent_tool_use_id": None,
              "message": {"role": "user", "content": [{"tool_use_id": tool_id, "type": "tool_result",
                                                       "content": written}]}})
    pause(step)
    answer = (plan_answer(prompt) if planning else
              f"Fixed {names}: no TODO left." if repairing else
              f"Wrote {names} ({len(content.splitlines())} lines).")
    assistant([{"type": "text", "text": answer}])
    return answer


def write_file(path: Path, prompt: str, session: str, repairing: bool) -> str:
    """Write one file of this turn and return its content: a repair turns its TODOs into ``done``."""
    if repairing and path.exists():
        content = path.read_text(errors="replace").replace("TODO", "done")
    else:
        content = (f"# {first_line(prompt)}\n\n"
                   f"{MARKER} (session {session}).\n\n"
                   "- TODO: ask a real agent to do this for real\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return content


def unfinished_files(cwd: Path) -> list[Path]:
    """Files of the working directory's top level that the demo agent wrote with a TODO left in them."""
    found = []
    for path in sorted(cwd.iterdir())[:500]:
        try:
            if path.is_file() and path.stat().st_size < 1_000_000:
                text = path.read_text(errors="replace")
                if MARKER in text and "TODO" in text:
                    found.append(path)
        except OSError:
            continue
    return found


def work_seconds(value: str) -> float:
    """How long to "work": ``DEMO_AGENT_SECONDS``, else 2. An empty value is what a flow file exported
    from another hub carries (env values are left out), so it means the default, not a crash."""
    try:
        seconds = float(value)
    except ValueError:
        return 2.0
    return seconds if 0 <= seconds <= 3600 else 2.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo_agent", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("prompt", nargs="?", help="the prompt (read from stdin when left out)")
    parser.add_argument("--resume", metavar="SESSION", help="continue this session")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--version", action="store_true")
    args = parser.parse_args(argv)
    if args.version:
        print(VERSION)
        return 0
    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    seconds = work_seconds(os.environ.get("DEMO_AGENT_SECONDS", ""))
    session = args.resume or str(uuid.uuid4())
    cwd = Path.cwd()
    started = time.monotonic()
    emit({"type": "system", "subtype": "init", "cwd": str(cwd), "session_id": session, "model": args.model,
          "tools": ["Write"], "permissionMode": "bypassPermissions"})
    answer = do_turn(prompt, session, args.resume is not None, cwd, seconds)
    usage = {"input_tokens": max(1, len(prompt) // 4), "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0, "output_tokens": max(1, len(answer) // 4)}
    emit({"type": "result", "subtype": "success", "is_error": False, "result": answer, "session_id": session,
          "duration_ms": int((time.monotonic() - started) * 1000), "num_turns": 1, "total_cost_usd": 0,
          "usage": usage})
    return 0


if __name__ == "__main__":
    sys.exit(main())
