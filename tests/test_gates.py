"""Approval gates: a run waits at a gate until a person approves or rejects it."""

from __future__ import annotations

from conftest import HubClient


async def gated_project(hub: HubClient) -> tuple[str, dict[str, str], dict[str, object]]:
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


async def test_approved_gate_releases_downstream_with_the_comment(hub: HubClient) -> None:
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


async def test_rejected_gate_skips_downstream(hub: HubClient) -> None:
    _, ids, launched = await gated_project(hub)
    response = await hub.post(f"/executions/{ids['review']}/reject", {"comment": "wrong approach"})
    assert response.status_code == 200
    run = await hub.wait_run(launched)
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["review"]["status"] == "failed"
    assert by_node["review"]["error"] == "rejected: wrong approach"
    assert by_node["ship"]["status"] == "skipped"
    assert run["status"] == "failed"


async def test_approving_an_agent_execution_is_refused(hub: HubClient) -> None:
    _, ids, launched = await gated_project(hub)
    response = await hub.post(f"/executions/{ids['draft']}/approve")
    assert response.status_code == 409
    bad = await hub.post(f"/executions/{ids['review']}/approve", {"comment": 5})
    assert bad.status_code == 422
    await hub.post(f"/runs/{launched['run_id']}/cancel")
    run = await hub.wait_run(launched)
    assert {e["node_id"]: e["status"] for e in run["executions"]}["review"] == "cancelled"


async def test_a_gate_needs_no_agent_and_an_agent_node_needs_one(hub: HubClient) -> None:
    pid = (await hub.create_project())["id"]
    response = await hub.post(f"/projects/{pid}/nodes", {"title": "g", "kind": "gate", "agent": "codex"})
    assert response.status_code == 422
    response = await hub.post(f"/projects/{pid}/nodes", {"title": "a", "prompt": "x"})
    assert response.status_code == 422
    assert "agent" in response.json()["error"]["message"]
