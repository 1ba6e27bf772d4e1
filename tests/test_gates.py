"""Approval gates: a run waits at a gate until a person approves or rejects it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import TOKEN, FakeAgents, LiveHub
from hubproc import hub_env, hub_process, wait_for_event


async def gated_project(hub: LiveHub) -> tuple[str, dict[str, str], dict[str, object]]:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="draft", prompt="write the plan")
    gate = await hub.create_node(pid, id="review", kind="gate", agent=None, title="Human review",
                                 depends_on=["draft"])
    assert gate["agent"] is None and gate["kind"] == "gate"
    await hub.create_node(pid, id="ship", prompt="ship it", depends_on=["review"])
    launched = await hub.launch(pid)
    ids = {e["node_id"]: e["id"] for e in launched["executions"]}
    waiting = await hub.wait_execution(ids["review"], {"waiting"})
    assert waiting["status"] == "waiting"
    ship = (await hub.get(f"/executions/{ids['ship']}")).json()
    assert ship["status"] == "queued"  # held by the gate
    return pid, ids, launched


async def test_approved_gate_releases_downstream_with_the_comment(hub: LiveHub) -> None:
    _, ids, launched = await gated_project(hub)
    response = await hub.post(f"/executions/{ids['review']}/approve", {"comment": "LGTM, keep it small"})
    assert response.status_code == 200, response.text
    run = await hub.wait_run(launched)
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert run["status"] == "succeeded"
    assert by_node["review"]["status"] == "succeeded"
    assert by_node["review"]["result_text"] == "LGTM, keep it small"
    assert "LGTM, keep it small" in by_node["ship"]["prompt"]
    again = await hub.post(f"/executions/{ids['review']}/approve")
    assert again.status_code == 409


async def test_rejected_gate_skips_downstream(hub: LiveHub) -> None:
    _, ids, launched = await gated_project(hub)
    response = await hub.post(f"/executions/{ids['review']}/reject", {"comment": "wrong approach"})
    assert response.status_code == 200
    run = await hub.wait_run(launched)
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["review"]["status"] == "failed"
    assert by_node["review"]["error"] == "rejected: wrong approach"
    assert by_node["ship"]["status"] == "skipped"
    assert run["status"] == "failed"


async def test_approving_an_agent_execution_is_refused(hub: LiveHub) -> None:
    _, ids, launched = await gated_project(hub)
    response = await hub.post(f"/executions/{ids['draft']}/approve")
    assert response.status_code == 409
    bad = await hub.post(f"/executions/{ids['review']}/approve", {"comment": 5})
    assert bad.status_code == 422
    await hub.post(f"/runs/{launched['run_id']}/cancel")
    run = await hub.wait_run(launched)
    assert {e["node_id"]: e["status"] for e in run["executions"]}["review"] == "cancelled"


async def test_a_gate_needs_no_agent_and_an_agent_node_needs_one(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    response = await hub.post(f"/projects/{pid}/nodes", {"title": "g", "kind": "gate", "agent": "codex"})
    assert response.status_code == 422
    response = await hub.post(f"/projects/{pid}/nodes", {"title": "a", "prompt": "x"})
    assert response.status_code == 422
    assert "agent" in response.json()["error"]["message"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
async def test_a_waiting_gate_survives_a_restart(tmp_path: Path, agents: FakeAgents, signum: int) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "gated"})).json()
        pid = project["id"]
        for node in ({"id": "draft", "title": "Draft", "prompt": "@result=the-plan", "agent": "claude-code"},
                     {"id": "review", "title": "Review", "kind": "gate", "depends_on": ["draft"]},
                     {"id": "ship", "title": "Ship", "prompt": "ship it", "agent": "claude-code",
                      "depends_on": ["review"]},
                     {"id": "slow", "title": "Slow", "prompt": "@hang", "agent": "claude-code"}):
            assert (await http.post(f"/projects/{pid}/nodes", json=node)).status_code == 201
        launched = (await http.post("/launch", json={"project_id": pid})).json()
        ids = {e["node_id"]: e["id"] for e in launched["executions"]}
        await wait_for_event(hub, pid, lambda e: e["type"] == "execution.started" and e["node_id"] == "review")
        await wait_for_event(hub, pid, lambda e: e["type"] == "execution.output" and e["node_id"] == "slow")
        hub.process.send_signal(signum)
        await hub.process.wait()

    async with hub_process(env) as hub, hub.http() as http:
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
        statuses = {e["node_id"]: e["status"] for e in run["executions"]}
        assert statuses == {"draft": "succeeded", "review": "waiting", "ship": "queued", "slow": "interrupted"}
        assert run["status"] == "running"
        response = await http.post(f"/executions/{ids['review']}/approve", json={"comment": "go"})
        assert response.status_code == 200, response.text
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished")
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["review"]["status"] == "succeeded" and by_node["review"]["result_text"] == "go"
    assert by_node["ship"]["status"] == "succeeded"
    ship_prompt = next(r["prompt"] for r in agents.recorded() if r["prompt"].startswith("ship it"))
    assert "go" in ship_prompt
    assert run["status"] == "failed" and "slow" in run["error"]  # the agent the restart cut short
