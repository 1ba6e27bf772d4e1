"""Issue 26, item 7: the smaller things a new user met in the first hour, each checked to fail on 5d24be3.
(The start log's UI link: test_auth.py; `orchestra desktop` and the login link: test_known_hubs.py; an
availability check left by a SIGKILLed hub: test_availability.py.)"""

from __future__ import annotations

import subprocess
import sys

from conftest import LiveHub
from test_terminal_client import run_cli
from test_triggers import SECRET, deliver, signature, webhook_project

from orchestra.clients.ansi import strip_ansi

COLOURED = "print('\\x1b[1;31mred\\x1b[0m and \\x1b]0;a title\\x07plain\\x1b[2K'); print('done')"


async def test_output_written_to_a_file_has_no_escape_codes(hub: LiveHub) -> None:
    assert (await hub.post("/agent-templates", {
        "id": "colours", "name": "Colours", "command": [sys.executable, "-c", COLOURED, "{prompt}"],
        "output": "text"})).status_code == 201
    project = await hub.create_project(name="colourful")
    await hub.create_node(project["id"], id="paint", agent="colours")
    launched: subprocess.CompletedProcess[bytes] = await run_cli(hub, "launch", "colourful", "--until-done")
    assert launched.returncode == 0, launched.stderr.decode()
    out = launched.stdout.decode()  # a pipe, as with `> file`
    assert "[paint] red and plain" in out
    assert "\x1b" not in out and "\x07" not in out


def test_strip_ansi_keeps_the_text_and_drops_every_sequence() -> None:
    assert strip_ansi("plain") == "plain"
    assert strip_ansi("\x1b[38;5;196mx\x1b[0m\ty\n") == "x\ty\n"
    assert strip_ansi("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"
    assert strip_ansi("cut \x1b[") == "cut " and strip_ansi("\x1b") == "" and strip_ansi("a\rb\x00") == "ab"
    assert strip_ansi("\x1b" * 100_000 + "end") == "end"


async def test_an_ambiguous_project_lists_only_its_matches(hub: LiveHub) -> None:
    twins = [(await hub.create_project(name="twin"))["id"] for _ in range(2)]
    other = (await hub.create_project(name="unrelated"))["id"]
    shown = await run_cli(hub, "status", "twin")
    assert shown.returncode == 1
    error = shown.stderr.decode()
    assert error == (f"orchestra: project 'twin' is ambiguous: 2 projects have that name: twin ({twins[0]}), "
                     f"twin ({twins[1]}); pass its id\n")
    assert other not in error


async def test_a_webhook_without_an_event_header_records_event_null(hub: LiveHub) -> None:
    pid = await webhook_project(hub, inputs={"ref": "main"})
    body = b'{"ref": "refs/heads/main"}'
    accepted = await deliver(hub, pid, body, signature(SECRET, body))  # no X-GitHub-Event, as the README's curl
    assert accepted.status_code == 202, accepted.text
    run = await hub.wait_run(accepted.json())
    assert run["trigger"] == {"kind": "webhook", "event": None}
    gitea = await deliver(hub, pid, body, signature(SECRET, body), **{"X-Gitea-Event": "push"})
    assert (await hub.wait_run(gitea.json()))["trigger"] == {"kind": "webhook", "event": "push"}
    status = await run_cli(hub, "status", run["id"])
    assert "  triggered by webhook\n" in status.stdout.decode()


async def test_cost_is_none_where_no_agent_reports_one(hub: LiveHub) -> None:
    project = await hub.create_project(name="no-costs")
    await hub.create_node(project["id"], id="c", agent="codex")  # Codex reports tokens, never a cost
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded"
    assert run["executions"][0]["cost_usd"] is None
    assert run["totals"]["cost_usd"] is None and run["totals"]["input_tokens"] > 0
    assert (await hub.get(f"/projects/{project['id']}")).json()["totals"]["cost_usd"] is None
    listed = (await hub.get("/runs", params={"project_id": project["id"]})).json()["runs"]
    assert listed[0]["totals"]["cost_usd"] is None
