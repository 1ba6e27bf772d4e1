"""Parked, not failed: a node whose CLI hits a usage or rate limit waits for the reset and goes on.

Fake CLIs replay the real CLIs' recorded limit outputs (tests/record_limits.py) a given number of times,
then their recorded successful runs.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import trio
from conftest import FIXTURES, FakeAgents, LiveHub, make_settings, serving
from fake_agent import __file__ as FAKE_AGENT
from test_terminal_client import run_cli

from orchestra.core.settings import Settings
from orchestra.runtime.parking import CONTINUE_PROMPT, RESET_MARGIN_S

# The reset claude-subscription-limit.jsonl was recorded with.
RECORDED_RESET = str(json.loads((FIXTURES / "claude-subscription-limit.meta.json").read_text())["limit_resets_at"])


def session_of(transcript: str) -> str:
    """The session id a recorded Claude run reported (its first line, system/init)."""
    first = (FIXTURES / transcript).read_text().splitlines()[0]
    return str(json.loads(first)["session_id"])


def install_limited(agents: FakeAgents, name: str, limited: Path | str, then: str, times: int = 1) -> None:
    """``name`` answers ``times`` runs with the ``limited`` transcript (hitting the limit), then ``then``."""
    counter = agents.bin_dir / f"{name}.limits-left"
    counter.write_text(str(times))

    def command(transcript: Path) -> str:
        return shlex.join([sys.executable, str(Path(FAKE_AGENT).resolve()), "--transcript", str(transcript),
                           "--record", str(agents.records)])

    limited_path = limited if isinstance(limited, Path) else FIXTURES / limited
    script = agents.bin_dir / name
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then exec {command(FIXTURES / then)} -- "$@"; fi\n'  # the hub's availability check
        f'left=$(cat {shlex.quote(str(counter))})\n'
        f'if [ "$left" -gt 0 ]; then echo $((left - 1)) > {shlex.quote(str(counter))}; '
        f'exec {command(limited_path)} -- "$@"; fi\n'
        f'exec {command(FIXTURES / then)} -- "$@"\n')
    script.chmod(0o755)


def subscription_limit(tmp_path: Path, reset_in_s: float) -> tuple[Path, int]:
    """claude-subscription-limit, its reset moved to ``reset_in_s`` from now (its stderr and meta alongside)."""
    resets_at = int(time.time() + reset_in_s)
    target = tmp_path / "claude-subscription-limit.jsonl"
    text = (FIXTURES / target.name).read_text()
    # The result text's "resets 7:16pm (UTC)" is a clock time: the epoch in rate_limit_event comes first.
    target.write_text(text.replace(RECORDED_RESET, str(resets_at)))
    for suffix in (".stderr.txt", ".meta.json"):
        (tmp_path / f"claude-subscription-limit{suffix}").write_text(
            (FIXTURES / f"claude-subscription-limit{suffix}").read_text())
    return target, resets_at


@pytest.fixture
def settings(tmp_path: Path, agents: FakeAgents) -> Settings:
    return make_settings(tmp_path, agents, park_backoff_s=0.5)


def claude_calls(agents: FakeAgents) -> list[dict[str, Any]]:
    """What the fake claude was run with, in the order it ran."""
    records = sorted(agents.records.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    return [r for r in (json.loads(p.read_text()) for p in records) if "--verbose" in r["argv"]]


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events if e["type"] != "execution.output"]


async def parked(hub: LiveHub, execution_id: str) -> dict[str, Any]:
    return await hub.wait_execution(execution_id, {"parked"})


async def test_a_limit_parks_the_node_holds_its_downstream_and_resumes_its_session(
        hub: LiveHub, agents: FakeAgents) -> None:
    install_limited(agents, "claude", "claude-midway-limit429.jsonl", "claude-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", prompt="write the thing")
    await hub.create_node(project["id"], id="b", prompt="use it", agent="codex", depends_on=["a"])
    launched = await hub.launch(project["id"])
    ids = {e["node_id"]: e["id"] for e in launched["executions"]}

    run = await hub.wait_run(launched)
    assert run["status"] == "succeeded", run
    a = (await hub.get(f"/executions/{ids['a']}")).json()
    assert a["status"] == "succeeded" and a["attempt"] == 1 and a["resume_at"] is None and a["error"] is None
    assert [e["node_id"] for e in run["executions"]] == ["a", "b"]  # the same execution went on: no retry row

    events = await hub.events(ids["a"])
    assert kinds(events) == ["execution.queued", "execution.started", "execution.parked", "execution.started",
                             "execution.finished"]
    parked_event = next(e for e in events if e["type"] == "execution.parked")
    assert parked_event["execution"]["status"] == "parked"
    assert parked_event["execution"]["resume_at"] > parked_event["ts"]
    assert "429" in parked_event["execution"]["error"]
    notes = [e["output"] for e in events if e["type"] == "execution.output" and e["output"].get("subtype") == "parked"]
    assert len(notes) == 1 and "parked until" in notes[0]["message"]
    # b did not start before a went on: its first event comes after a's last.
    b_events = await hub.events(ids["b"])
    started_b = next(e["seq"] for e in b_events if e["type"] == "execution.started")
    assert started_b > max(e["seq"] for e in events if e["type"] == "execution.finished")

    # The limited turn had done work (a tool call): the second turn continued its session.
    calls = claude_calls(agents)
    assert len(calls) == 2
    assert "--resume" not in calls[0]["argv"]
    assert calls[1]["argv"][calls[1]["argv"].index("--resume") + 1] == session_of("claude-midway-limit429.jsonl")
    assert calls[1]["prompt"] == CONTINUE_PROMPT
    assert calls[1]["cwd"] == calls[0]["cwd"]


async def test_a_limit_at_the_first_model_call_is_followed_by_a_fresh_attempt(hub: LiveHub, agents: FakeAgents) -> None:
    """Nothing happened in the refused turn's session (Gemini CLI does not even keep one): the node's whole
    prompt runs again, with its upstream results."""
    install_limited(agents, "claude", "claude-limit429.jsonl", "claude-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="up", agent="codex", prompt="first")
    await hub.create_node(project["id"], id="a", prompt="write the thing", depends_on=["up"])
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    first, second = claude_calls(agents)
    assert "--resume" not in second["argv"]
    assert second["prompt"] == first["prompt"] and first["prompt"].startswith("write the thing")
    assert "Done" in first["prompt"] or len(first["prompt"]) > len("write the thing")  # carries up's result


class ParkedChain(NamedTuple):
    project_id: str
    launched: dict[str, Any]
    ids: dict[str, str]  # node id -> its execution
    parked_a: dict[str, Any]  # a's execution, once parked
    resets_at: int  # the reset the CLI gave


async def park_a_before_b(hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> ParkedChain:
    """Nodes a -> b, launched; a hits a subscription limit that resets in an hour and is parked."""
    limited, resets_at = subscription_limit(tmp_path, 3600)
    install_limited(agents, "claude", limited, "claude-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a")
    await hub.create_node(project["id"], id="b", depends_on=["a"])
    launched = await hub.launch(project["id"])
    ids = {e["node_id"]: e["id"] for e in launched["executions"]}
    return ParkedChain(project["id"], launched, ids, await parked(hub, ids["a"]), resets_at)


async def test_a_reset_time_is_kept_and_resume_now_wakes_it(hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    project_id, launched, ids, a, resets_at = await park_a_before_b(hub, agents, tmp_path)
    assert a["resume_at"] == pytest.approx(resets_at + RESET_MARGIN_S)
    assert a["error"].startswith("usage limit: You've hit your 5-hour limit")
    assert a["finished_at"] is None
    listed = (await hub.get("/executions", params={"project_id": project_id, "status": "parked"})).json()
    assert [e["id"] for e in listed["executions"]] == [ids["a"]]
    assert (await hub.get(f"/runs/{launched['run_id']}")).json()["status"] == "running"
    assert (await hub.get(f"/executions/{ids['b']}")).json()["status"] == "queued"

    for refused, code in ((ids["b"], 409), ("exe_nope", 404)):
        response = await hub.post(f"/executions/{refused}/resume")
        assert response.status_code == code, response.text
        assert response.json()["error"]["message"]
    assert (await hub.get(f"/executions/{ids['b']}")).json()["status"] == "queued"

    response = await hub.post(f"/executions/{ids['a']}/resume")
    assert response.status_code == 202, response.text
    assert response.json() == {"execution_id": ids["a"], "status": "resuming"}
    run = await hub.wait_run(launched)
    assert run["status"] == "succeeded"
    again = await hub.post(f"/executions/{ids['a']}/resume")
    assert again.status_code == 409 and "is not parked" in again.json()["error"]["message"]


async def test_cancelling_a_parked_execution_ends_it_and_skips_its_downstream(
        hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    _, launched, ids, _, _ = await park_a_before_b(hub, agents, tmp_path)
    assert (await hub.post(f"/executions/{ids['a']}/cancel")).status_code == 202
    run = await hub.wait_run(launched)
    statuses = {e["node_id"]: e["status"] for e in run["executions"]}
    assert statuses == {"a": "cancelled", "b": "skipped"}
    assert run["status"] == "failed"
    assert len(claude_calls(agents)) == 1


def reported(transcript: str) -> tuple[float, int, int]:
    """The cost and tokens a recorded Claude run reported in its closing result line."""
    last = json.loads((FIXTURES / transcript).read_text().splitlines()[-1])
    return last["total_cost_usd"], last["usage"]["input_tokens"], last["usage"]["output_tokens"]


async def test_what_a_parked_execution_spent_counts_across_its_turns(hub: LiveHub, agents: FakeAgents) -> None:
    """Its row, its run's totals and its node's budget count the turn that hit the limit and the one that
    went on (the second turn's report used to replace the first's: its cost was lost, its budget restarted)."""
    install_limited(agents, "claude", "claude-midway-limit429.jsonl", "claude-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a")
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run
    (a,) = run["executions"]
    first, second = reported("claude-midway-limit429.jsonl"), reported("claude-tool.jsonl")
    assert first[0] > 0 and second[0] > 0
    assert a["cost_usd"] == pytest.approx(first[0] + second[0])
    assert (a["input_tokens"], a["output_tokens"]) == (first[1] + second[1], first[2] + second[2])
    totals = (await hub.get(f"/runs/{run['id']}")).json()["totals"]
    assert totals["cost_usd"] == pytest.approx(first[0] + second[0]), totals

    # A node budget between the first turn's tokens and both turns' stops the turn that goes on.
    install_limited(agents, "claude", "claude-midway-limit429.jsonl", "claude-tool.jsonl")
    budget = first[1] + first[2] + (second[1] + second[2]) // 2
    await hub.patch(f"/projects/{project['id']}/nodes/a", {"budget": {"tokens": budget}})
    run = await hub.wait_run(await hub.launch(project["id"]))
    (a,) = run["executions"]
    assert a["status"] == "failed" and "node budget exceeded" in a["error"], a
    assert len(claude_calls(agents)) == 4  # it parked, then went on: the budget stopped the second turn


async def test_a_run_budget_still_ends_a_parked_node(hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    limited, _ = subscription_limit(tmp_path, 3600)
    install_limited(agents, "claude", limited, "claude-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a")
    response = await hub.post("/launch", {"project_id": project["id"], "budget": {"wall_s": 2}})
    assert response.status_code == 202, response.text
    run = await hub.wait_run(response.json())
    (a,) = run["executions"]
    assert a["status"] == "failed" and "run budget exceeded: wall time" in a["error"]


async def test_other_nodes_of_the_same_template_wait_instead_of_hitting_the_wall(
        hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    limited, resets_at = subscription_limit(tmp_path, 3600)
    install_limited(agents, "claude", limited, "claude-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a")
    await hub.create_node(project["id"], id="go", kind="gate", agent=None, title="go")
    await hub.create_node(project["id"], id="b", depends_on=["go"])
    await hub.create_node(project["id"], id="c", agent="codex", depends_on=["go"])
    launched = await hub.launch(project["id"])
    ids = {e["node_id"]: e["id"] for e in launched["executions"]}
    await parked(hub, ids["a"])
    await hub.wait_execution(ids["go"], {"waiting"})
    assert (await hub.post(f"/executions/{ids['go']}/approve")).status_code == 200
    b = await parked(hub, ids["b"])  # parked without running: claude-code is paused in this project
    assert b["resume_at"] == pytest.approx(resets_at + RESET_MARGIN_S)
    assert "agent template 'claude-code' is paused" in b["error"] and ids["a"] in b["error"]
    assert (await hub.wait_execution(ids["c"], {"succeeded"}))["status"] == "succeeded"  # another template runs
    assert len(claude_calls(agents)) == 1

    for execution_id in (ids["a"], ids["b"]):
        assert (await hub.post(f"/executions/{execution_id}/resume")).status_code == 202
    run = await hub.wait_run(launched)
    assert run["status"] == "succeeded", run
    calls = claude_calls(agents)
    assert len(calls) == 3  # a limited, then a and b (b never ran before: its first attempt)
    assert all("--resume" not in c["argv"] and c["prompt"].startswith("do it") for c in calls)


async def test_a_parked_execution_survives_a_hub_restart(tmp_path: Path, agents: FakeAgents) -> None:
    install_limited(agents, "claude", "claude-midway-limit429.jsonl", "claude-tool.jsonl")
    settings = make_settings(tmp_path, agents, park_backoff_s=3600)  # no reset time given: parked an hour
    async with serving(settings) as hub:
        project = await hub.create_project()
        await hub.create_node(project["id"], id="a")
        await hub.create_node(project["id"], id="b", depends_on=["a"])
        launched = await hub.launch(project["id"])
        ids = {e["node_id"]: e["id"] for e in launched["executions"]}
        before = await parked(hub, ids["a"])
        assert before["resume_at"] == pytest.approx(time.time() + 3600, abs=60)

    async with serving(settings) as hub:
        run = (await hub.get(f"/runs/{launched['run_id']}")).json()
        assert run["status"] == "running"
        statuses = {e["node_id"]: (e["status"], e["resume_at"]) for e in run["executions"]}
        assert statuses == {"a": ("parked", before["resume_at"]), "b": ("queued", None)}
        response = await hub.post(f"/executions/{ids['a']}/resume")
        assert response.status_code == 202, response.text
        run = await hub.wait_run(launched)
    assert run["status"] == "succeeded"
    second = claude_calls(agents)[1]  # a's continuing turn, then b
    assert second["argv"][second["argv"].index("--resume") + 1] == session_of("claude-midway-limit429.jsonl")
    assert second["prompt"] == CONTINUE_PROMPT


@pytest.mark.parametrize("transcript", ["codex-limit429.jsonl", "codex-usage-limit.jsonl"])
async def test_codex_limits_park_too(hub: LiveHub, agents: FakeAgents, transcript: str) -> None:
    install_limited(agents, "codex", transcript, "codex-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="codex")
    launched = await hub.launch(project["id"])
    a = await parked(hub, launched["executions"][0]["id"])
    assert a["resume_at"] > time.time()
    await hub.post(f"/executions/{a['id']}/resume")
    assert (await hub.wait_run(launched))["status"] == "succeeded"


@pytest.mark.parametrize("transcript", ["gemini-limit429.jsonl", "gemini-usage-limit.jsonl"])
async def test_gemini_limits_park_until_the_apis_retry_delay(hub: LiveHub, agents: FakeAgents, transcript: str) -> None:
    install_limited(agents, "gemini", transcript, "gemini-tool.jsonl")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="gemini")
    launched = await hub.launch(project["id"])
    a = await parked(hub, launched["executions"][0]["id"])
    meta = json.loads((FIXTURES / transcript.replace(".jsonl", ".meta.json")).read_text())
    delay = meta["limit_resets_at"] - meta["recorded_at"]
    assert time.time() + delay - 60 < a["resume_at"] < time.time() + delay + 60
    await hub.post(f"/executions/{a['id']}/resume")
    assert (await hub.wait_run(launched))["status"] == "succeeded"


@pytest.mark.parametrize("transcript", ["claude-http401.jsonl", "codex-http401.jsonl", "gemini-http500.jsonl"])
async def test_a_real_failure_still_fails(hub: LiveHub, agents: FakeAgents, transcript: str) -> None:
    agent = {"claude": "claude-code", "codex": "codex", "gemini": "gemini"}[transcript.split("-")[0]]
    agents.install(transcript.split("-")[0], transcript)
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent=agent)
    await hub.create_node(project["id"], id="b", agent=agent, depends_on=["a"])
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert {e["node_id"]: e["status"] for e in run["executions"]} == {"a": "failed", "b": "skipped"}
    assert run["executions"][0]["resume_at"] is None


async def test_a_template_declares_its_own_limit_phrase(hub: LiveHub, agents: FakeAgents) -> None:
    script = agents.bin_dir / "quota-cli"
    marker = agents.bin_dir / "quota-cli.limited"
    script.write_text("#!/bin/sh\n"
                      'if [ "$1" = --version ]; then echo 1.0; exit 0; fi\n'
                      f"if [ ! -e {shlex.quote(str(marker))} ]; then touch {shlex.quote(str(marker))}; "
                      "echo 'working'; echo 'ERROR: Daily Budget Exhausted (retry in 1s)' >&2; exit 2; fi\n"
                      "echo done\n")
    script.chmod(0o755)
    body = {"id": "quota", "name": "Quota CLI", "command": [str(script), "{prompt}"], "output": "text",
            "limit_patterns": ["daily budget exhausted"]}
    for bad in ({"limit_patterns": ["ab"]}, {"limit_patterns": ["x" * 201]}, {"limit_patterns": ["abc"] * 21},
                {"limit_patterns": "daily budget exhausted"}):
        refused = await hub.post("/agent-templates", body | bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["error"]["code"] == "validation_error"
    assert (await hub.get("/agent-templates/quota")).status_code == 404
    created = await hub.post("/agent-templates", body)
    assert created.status_code == 201, created.text
    assert created.json()["limit_patterns"] == ["daily budget exhausted"]

    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="quota", prompt="go")
    launched = await hub.launch(project["id"])
    run = await hub.wait_run(launched)  # parked ~1 s (the CLI's own retry delay), then a fresh attempt
    assert run["status"] == "succeeded", run
    events = await hub.events(launched["executions"][0]["id"])
    assert "execution.parked" in kinds(events)
    assert run["executions"][0]["result_text"] == "done"


async def test_the_terminal_client_says_until_when_a_node_is_parked(
        hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    limited, _ = subscription_limit(tmp_path, 3600)
    install_limited(agents, "claude", limited, "claude-tool.jsonl")
    project = await hub.create_project(name="limits-cli")
    await hub.create_node(project["id"], id="a")
    async with trio.open_nursery() as nursery:
        watched: list[str] = []

        async def watch() -> None:
            watched.append((await run_cli(hub, "watch", project["id"], "--until-done")).stdout.decode())

        nursery.start_soon(watch)
        with trio.fail_after(30):
            await hub.running.hub.bus.wait_for_subscribers(project["id"], 1)  # the watcher is listening
        launched = await hub.launch(project["id"])
        execution_id = launched["executions"][0]["id"]
        a = await parked(hub, execution_id)
        when = time.localtime(a["resume_at"])
        until = time.strftime("%H:%M" if when[:3] == time.localtime()[:3] else "%Y-%m-%d %H:%M", when)

        status = await run_cli(hub, "status", "limits-cli")
        assert f"a                        parked until {until}" in status.stdout.decode(), status
        run_status = await run_cli(hub, "status", launched["run_id"])
        assert f"parked until {until}" in run_status.stdout.decode(), run_status
        await hub.post(f"/executions/{execution_id}/resume")
    out = watched[0]
    (line,) = [line for line in out.splitlines() if f"[a] parked until {until}" in line]
    assert "usage limit: You've hit your 5-hour limit" in line, out
    assert "[a] succeeded" in out and out.index("parked until") < out.index("[a] succeeded")
