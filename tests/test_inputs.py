"""Launch inputs: ``{{inputs.NAME}}`` in prompts, given at launch (REST ``inputs``, CLI ``--set``),
stored on the run, refused when missing; kept across a restart for a run waiting at a gate."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import trio
from conftest import TOKEN, WAIT_S, FakeAgents, LiveHub
from hubproc import ENTRY, hub_env, hub_process, wait_for_event

from orchestra.core.prompts import UpstreamResult, input_names, render_prompt


def test_inputs_are_filled_in_one_pass_with_the_upstream_results() -> None:
    plan = UpstreamResult("plan", "Plan", "uses {{inputs.env}} literally")
    rendered = render_prompt("Deploy {{ inputs.env }} v{{inputs.version}}: {{upstream.plan.result}}", [plan],
                             {"env": "{{upstream.plan.result}}", "version": "1.2"})
    assert rendered == "Deploy {{upstream.plan.result}} v1.2: uses {{inputs.env}} literally"
    assert render_prompt("for {{inputs.who}}", [plan], {"who": "me"}) == (
        "for me\n\n---\nResults of the tasks this one depends on:\n\n### Plan (plan)\nuses {{inputs.env}} literally")
    assert render_prompt("{{inputs.unknown}}", [], {}) == "{{inputs.unknown}}"
    assert input_names(["{{inputs.a}} {{ inputs.b_2 }}", "{{inputs.a}} {{inputs.}} {{input.c}}"]) == {"a", "b_2"}


async def inputs_project(hub: LiveHub) -> str:
    pid = (await hub.create_project(name="deploy"))["id"]
    await hub.create_node(pid, id="build", prompt="Build {{inputs.version}}")
    await hub.create_node(pid, id="deploy", prompt="Deploy {{inputs.version}} to {{inputs.env}}",
                          depends_on=["build"])
    return pid


async def test_launch_inputs_fill_the_prompts_and_are_stored_on_the_run(hub: LiveHub, agents: FakeAgents) -> None:
    pid = await inputs_project(hub)
    response = await hub.post("/launch", {"project_id": pid, "inputs": {"version": "1.2.3", "env": "prod"}})
    assert response.status_code == 202, response.text
    run = await hub.wait_run(response.json())
    assert run["status"] == "succeeded"
    assert run["inputs"] == {"version": "1.2.3", "env": "prod"}
    prompts = {e["node_id"]: e["prompt"] for e in [
        (await hub.get(f"/executions/{e['id']}")).json() for e in run["executions"]]}
    assert prompts["build"] == "Build 1.2.3"
    assert prompts["deploy"].startswith("Deploy 1.2.3 to prod\n\n---\nResults of the tasks")
    assert {r["prompt"].split("\n")[0] for r in agents.recorded()} == {"Build 1.2.3", "Deploy 1.2.3 to prod"}
    listed = (await hub.get("/runs", params={"project_id": pid})).json()["runs"]
    assert listed[0]["inputs"] == {"version": "1.2.3", "env": "prod"}

    # Launching 'deploy' alone reuses build's result: only deploy's inputs are needed.
    partial = await hub.post("/launch", {"project_id": pid, "node_ids": ["deploy"],
                                         "inputs": {"version": "2", "env": "staging"}})
    assert partial.status_code == 202, partial.text
    assert (await hub.wait_run(partial.json()))["status"] == "succeeded"


async def test_a_missing_or_bad_input_is_refused_and_nothing_runs(hub: LiveHub) -> None:
    pid = await inputs_project(hub)
    cases = [
        ({}, "missing launch input(s) env, version: used by node(s) build, deploy"),
        ({"inputs": {"version": "1"}}, "missing launch input(s) env: used by node(s) deploy"),
        ({"inputs": {"version": "1", "bad-name": "x"}}, "'inputs.bad-name.[key]'"),
        ({"inputs": {"version": 1, "env": "x"}}, "'inputs.version': Input should be a valid string"),
        ({"inputs": {"version": "a\u0000b", "env": "x"}}, "NUL"),
        ({"inputs": ["version"]}, "'inputs': Input should be an object"),
    ]
    for extra, message in cases:
        response = await hub.post("/launch", {"project_id": pid} | extra)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert message in error["message"], error["message"]
    missing = await hub.post("/launch", {"project_id": pid, "inputs": {"version": "1"}})
    assert missing.json()["error"]["details"] == {"field": "inputs", "missing": ["env"]}
    assert (await hub.get("/runs", params={"project_id": pid})).json()["runs"] == []


async def run_cli(hub: LiveHub, *args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(WAIT_S):
        return await trio.run_process([sys.executable, str(ENTRY), *args, "--hub", hub.url, "--token", TOKEN],
                                      capture_stdout=True, capture_stderr=True, check=False)


async def test_cli_launch_with_set(hub: LiveHub, agents: FakeAgents) -> None:
    await inputs_project(hub)
    done = await run_cli(hub, "launch", "deploy", "--set", "version=1.0=rc", "--set", "env=", "--until-done")
    assert done.returncode == 0, (done.stdout.decode(), done.stderr.decode())
    assert {r["prompt"].split("\n")[0] for r in agents.recorded()} == {"Build 1.0=rc", "Deploy 1.0=rc to "}
    plain = await run_cli(hub, "launch", "deploy", "--set", "version=2", "--set", "env=x")
    assert plain.returncode == 0 and plain.stdout.decode().startswith("run run_")
    status = await run_cli(hub, "status", plain.stdout.decode().split()[1])
    assert "  input version = 2\n  input env = x\n" in status.stdout.decode()
    missing = await run_cli(hub, "launch", "deploy", "--set", "version=1")
    assert missing.returncode == 1
    assert "422 missing launch input(s) env: used by node(s) deploy" in missing.stderr.decode()
    bad = await run_cli(hub, "launch", "deploy", "--set", "version")
    assert bad.returncode == 2 and "--set takes NAME=value, not 'version'" in bad.stderr.decode()


async def test_a_run_waiting_at_a_gate_keeps_its_inputs_across_a_restart(tmp_path: Path, agents: FakeAgents) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    async with hub_process(env) as hub, hub.http() as http:
        pid = (await http.post("/projects", json={"name": "gated"})).json()["id"]
        for node in ({"id": "review", "title": "Review", "kind": "gate"},
                     {"id": "ship", "title": "Ship", "prompt": "ship {{inputs.what}}", "agent": "claude-code",
                      "depends_on": ["review"]}):
            assert (await http.post(f"/projects/{pid}/nodes", json=node)).status_code == 201
        launched = (await http.post("/launch", json={"project_id": pid, "inputs": {"what": "v7"}})).json()
        await wait_for_event(hub, pid, lambda e: e["type"] == "execution.started" and e["node_id"] == "review")
        hub.process.send_signal(signal.SIGTERM)
        await hub.process.wait()
    async with hub_process(env) as hub, hub.http() as http:
        gate = next(e["id"] for e in launched["executions"] if e["node_id"] == "review")
        assert (await http.post(f"/executions/{gate}/approve", json={})).status_code == 200
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished")
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
    assert run["status"] == "succeeded" and run["inputs"] == {"what": "v7"}
    assert [r["prompt"].split("\n")[0] for r in agents.recorded()] == ["ship v7"]
