"""The README's curl walk-through, run as a whole by bash against a fresh hub (a real subprocess), as a
user pastes it into a shell in the clone, on a machine without any agent CLI: it uses the demo agent."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import trio
from hubproc import hub_env, hub_process

REPO = Path(__file__).resolve().parents[1]
TRANSCRIPTS = REPO / "tests" / "fixtures" / "agent-transcripts"
TOKEN = "readme-token-0123456789abcdef"


def curl_walk_through() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### With curl"):]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "no sh block under '### With curl'"
    return match.group(1)


def test_walk_through_needs_no_placeholders() -> None:
    script = curl_walk_through()
    assert script.startswith("HUB=http://localhost:8000\n")
    assert not re.search(r"\b[A-Z]+_ID\b", script), "a placeholder the user must replace"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_walk_through_runs_end_to_end(tmp_path: Path) -> None:
    # No agent CLI anywhere: the built-in CLIs point at names that exist on no PATH (issue 26, item 2:
    # on 5d24be3 the walk-through needed the real CLIs and crashed without them).
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN="no-claude-here", ORCHESTRA_CODEX_BIN="no-codex-here",
                  ORCHESTRA_GEMINI_BIN="no-gemini-here")
    async with hub_process(env) as hub:
        script = curl_walk_through().replace("HUB=http://localhost:8000\n", f"HUB={hub.url}\n", 1)
        with trio.fail_after(120):
            done = await trio.run_process(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=str(REPO),
                                          capture_stdout=True, capture_stderr=True, check=False)
        assert done.returncode == 0, (done.stdout.decode(), done.stderr.decode())
        assert done.stderr == b"", done.stderr.decode()  # printing no error
        workspace = Path((await hub.http().get("/projects")).json()["projects"][0]["workspace"])
    out = done.stdout.decode()
    # Every answer printed is one JSON document on a line of its own: each ends with a newline.
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == 7, out
    nodes, run, executions, events, cancelled = answers[:3], answers[3], answers[4], answers[5], answers[6]
    assert not any(isinstance(a.get("error"), dict) for a in answers), out
    assert [n["id"] for n in nodes] == ["plan", "build", "review"]
    assert run["status"] == "succeeded" and [e["node_id"] for e in run["executions"]] == ["plan", "build", "review"]
    assert len(executions["executions"]) == 3
    plan = run["executions"][0]["id"]
    assert events["events"] and {e["execution_id"] for e in events["events"]} == {plan}
    assert cancelled.get("status") == "cancelling", cancelled  # the demo agent works for seconds
    assert all(e["agent"] == "demo" and e["cost_usd"] == 0 and e["input_tokens"] for e in run["executions"])
    assert "TODO" in (workspace / "PLAN.md").read_text()  # the demo agent edited a file in its workspace
