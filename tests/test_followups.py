"""Follow-up turns continue the agent's own session, as a new execution linked to the first."""

from __future__ import annotations

from conftest import FakeAgents, LiveHub


async def test_follow_up_resumes_the_claude_session_in_the_same_directory(hub: LiveHub, agents: FakeAgents) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", prompt="Create hello.txt")
    first = (await hub.wait_run(await hub.launch(project["id"])))["executions"][0]
    assert first["session_id"] == "626745bb-6241-46ee-ad5d-21a2bdc53426"

    response = await hub.post(f"/executions/{first['id']}/follow-up", {"prompt": "Now say hello"})
    assert response.status_code == 202, response.text
    run = await hub.wait_run(response.json())
    assert run["status"] == "succeeded"
    (second,) = run["executions"]
    assert second["parent_execution_id"] == first["id"]
    assert second["node_id"] == "a"
    assert second["prompt"] == "Now say hello"
    record = next(r for r in agents.recorded() if r["prompt"] == "Now say hello")
    assert record["argv"][record["argv"].index("--resume") + 1] == first["session_id"]
    assert record["cwd"] == first["workspace"]


async def test_follow_up_is_refused_without_a_resumable_cli_or_while_running(hub: LiveHub) -> None:
    response = await hub.post("/agent-templates", {
        "id": "plain", "name": "Plain", "command": [str(hub.settings.claude_bin), "{prompt}"], "output": "text"})
    assert response.status_code == 201
    project = await hub.create_project()
    await hub.create_node(project["id"], id="t", agent="plain", prompt="hi")
    await hub.create_node(project["id"], id="long", prompt="@hang")
    launched = await hub.launch(project["id"])
    ids = {e["node_id"]: e["id"] for e in launched["executions"]}
    await hub.wait_execution(ids["long"], {"running"})
    busy = await hub.post(f"/executions/{ids['long']}/follow-up", {"prompt": "more"})
    assert busy.status_code == 409
    assert "still running" in busy.json()["error"]["message"]
    await hub.post(f"/runs/{launched['run_id']}/cancel")
    await hub.wait_run(launched)
    refused = await hub.post(f"/executions/{ids['t']}/follow-up", {"prompt": "more"})
    assert refused.status_code == 409
    assert "cannot continue a session" in refused.json()["error"]["message"]
    empty = await hub.post(f"/executions/{ids['t']}/follow-up", {"prompt": ""})
    assert empty.status_code == 422
    runs = (await hub.get("/runs", params={"project_id": project["id"]})).json()["runs"]
    assert len(runs) == 1  # nothing was launched by the refused follow-ups
