"""``/projects/{id}/nodes``: the DAG's nodes, their dependencies, and the refusals that keep it a DAG."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import LiveHub
from test_api_errors import assert_error, dump, unchanged


async def project_events(hub: LiveHub, pid: str) -> list[dict[str, Any]]:
    rows = await hub.running.hub.db.read(
        lambda db: db.execute("SELECT body FROM events WHERE project_id = ? ORDER BY seq", [pid]).fetchall())
    return [json.loads(body) for (body,) in rows]


@pytest.fixture
async def chain(hub: LiveHub) -> str:
    """A project with a <- b <- c (c depends on b, b on a)."""
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    await hub.create_node(pid, id="b", depends_on=["a"])
    await hub.create_node(pid, id="c", depends_on=["b"])
    return pid


async def test_node_lifecycle(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    response = await hub.post(f"/projects/{pid}/nodes", {
        "id": "plan", "title": "Plan", "prompt": "Make a plan", "agent": "codex", "model": "gpt-x",
        "timeout_s": 90, "retries": 2, "position": {"x": 10, "y": 20.5}})
    assert response.status_code == 201, response.text
    plan = response.json()
    assert {k: plan[k] for k in ("project_id", "id", "title", "prompt", "agent", "model", "timeout_s", "retries",
                                 "position", "depends_on")} == {
        "project_id": pid, "id": "plan", "title": "Plan", "prompt": "Make a plan", "agent": "codex",
        "model": "gpt-x", "timeout_s": 90, "retries": 2, "position": {"x": 10, "y": 20.5}, "depends_on": []}
    build = await hub.create_node(pid, id="build", title="Build", depends_on=["plan"])
    check = await hub.create_node(pid, id="check", title="Check", depends_on=["plan", "build"])
    assert (build["model"], build["timeout_s"], build["retries"], build["position"]) == (None, None, 0, None)

    listed = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    assert listed == [plan, build, check]
    assert (await hub.get(f"/projects/{pid}/nodes/check")).json() == check

    response = await hub.patch(f"/projects/{pid}/nodes/check", {
        "title": "Verify", "depends_on": ["build"], "model": None, "position": {"x": 1, "y": 2}})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["title"], patched["depends_on"], patched["position"]) == ("Verify", ["build"], {"x": 1, "y": 2})
    assert (patched["prompt"], patched["agent"]) == (check["prompt"], check["agent"])
    # null for a required field leaves it alone; null for an optional one clears it
    patched = (await hub.patch(f"/projects/{pid}/nodes/plan", {"title": None, "depends_on": None,
                                                               "model": None})).json()
    assert (patched["title"], patched["depends_on"], patched["model"]) == ("Plan", [], None)

    response = await hub.delete(f"/projects/{pid}/nodes/build")
    assert (response.status_code, response.content) == (204, b"")
    assert_error(await hub.get(f"/projects/{pid}/nodes/build"), 404, "not_found", "'build'")
    assert (await hub.get(f"/projects/{pid}/nodes/check")).json()["depends_on"] == []

    events = await project_events(hub, pid)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["type"], e["node_id"]) for e in events] == [
        ("node.created", "plan"), ("node.created", "build"), ("node.created", "check"),
        ("node.updated", "check"), ("node.updated", "plan"), ("node.deleted", "build"), ("node.updated", "check")]
    assert events[-1]["node"]["depends_on"] == []


async def test_node_id_comes_from_the_title_when_not_given(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    first = await hub.create_node(pid, title="Write the Tests!")
    second = await hub.create_node(pid, title="write the tests")
    third = await hub.create_node(pid, title="???")
    assert [first["id"], second["id"], third["id"]] == ["write-the-tests", "write-the-tests-2", "node"]


async def test_unknown_node_is_404(hub: LiveHub, chain: str) -> None:
    async with unchanged(hub):
        for method, body in [("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)]:
            response = await hub.http.request(method, f"/projects/{chain}/nodes/zz", json=body)
            assert_error(response, 404, "not_found", "'zz'", chain)


async def test_depends_on_a_missing_node_or_one_of_another_project_is_422(hub: LiveHub, chain: str) -> None:
    other = (await hub.create_project())["id"]
    await hub.create_node(other, id="elsewhere")
    async with unchanged(hub):
        for upstream in (["elsewhere"], ["a", "ghost"]):
            response = await hub.post(f"/projects/{chain}/nodes", {
                "id": "d", "title": "d", "prompt": "p", "agent": "claude-code", "depends_on": upstream})
            error = assert_error(response, 422, "validation_error", "depends_on", upstream[-1])
            assert error["details"] == {"field": "depends_on", "missing": [upstream[-1]]}
            response = await hub.patch(f"/projects/{chain}/nodes/c", {"depends_on": upstream})
            assert_error(response, 422, "validation_error", "depends_on", upstream[-1])
        response = await hub.patch(f"/projects/{chain}/nodes/c", {"depends_on": ["a", "a"]})
        assert_error(response, 422, "validation_error", "depends_on", "twice")


async def test_edge_closing_a_cycle_is_409_naming_it(hub: LiveHub, chain: str) -> None:
    async with unchanged(hub):
        error = assert_error(await hub.patch(f"/projects/{chain}/nodes/a", {"depends_on": ["c"]}), 409, "conflict",
                             "cycle", "a -> c -> b -> a")
        assert error["details"] == {"cycle": ["a", "c", "b", "a"]}
        # the refused PATCH changes nothing else it carried either
        error = assert_error(await hub.patch(f"/projects/{chain}/nodes/b", {"title": "renamed", "depends_on": ["c"]}),
                             409, "conflict", "b -> c -> b")
        assert error["details"] == {"cycle": ["b", "c", "b"]}
    assert (await hub.get(f"/projects/{chain}/nodes/b")).json()["title"] == "b"


async def test_self_dependency_is_a_cycle(hub: LiveHub, chain: str) -> None:
    async with unchanged(hub):
        error = assert_error(await hub.patch(f"/projects/{chain}/nodes/b", {"depends_on": ["b"]}), 409, "conflict",
                             "b -> b")
        assert error["details"] == {"cycle": ["b", "b"]}
        response = await hub.post(f"/projects/{chain}/nodes", {
            "id": "d", "title": "d", "prompt": "p", "agent": "claude-code", "depends_on": ["a", "d"]})
        assert_error(response, 409, "conflict", "d -> d")


async def test_duplicate_node_id_is_409(hub: LiveHub, chain: str) -> None:
    async with unchanged(hub):
        response = await hub.post(f"/projects/{chain}/nodes", {"id": "b", "title": "again", "prompt": "p",
                                                               "agent": "claude-code"})
        error = assert_error(response, 409, "conflict", "'b'", "already exists")
        assert error["details"] == {"field": "id"}
    # the same id in another project is fine
    other = (await hub.create_project())["id"]
    assert (await hub.create_node(other, id="b"))["id"] == "b"


async def test_unknown_agent_is_422(hub: LiveHub, chain: str) -> None:
    async with unchanged(hub):
        response = await hub.post(f"/projects/{chain}/nodes", {"title": "t", "prompt": "p", "agent": "nobody"})
        assert_error(response, 422, "validation_error", "agent", "'nobody'")
        response = await hub.patch(f"/projects/{chain}/nodes/a", {"agent": "nobody"})
        assert_error(response, 422, "validation_error", "agent", "'nobody'")


async def test_prompt_keeps_every_character(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    prompt = "; rm -rf ~ $(x) `y` {model} {{upstream.a.result}}\n\r\n\ttabs 'q' \"d\" — ünïcødé 🎻\x01"
    node = await hub.create_node(pid, id="a", prompt=prompt)
    assert node["prompt"] == prompt
    assert (await hub.get(f"/projects/{pid}/nodes/a")).json()["prompt"] == prompt


async def test_deleting_a_node_with_a_running_execution_is_409(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="stuck", prompt="@hang")
    run = await hub.launch(pid)
    await hub.wait_execution(run["executions"][0]["id"], {"running"})
    # (the agent may still be printing, so only the DAG's own tables must stay as they were)
    before = await dump(hub)
    assert_error(await hub.delete(f"/projects/{pid}/nodes/stuck"), 409, "conflict", "'stuck'")
    after = await dump(hub)
    assert [after[t] for t in ("nodes", "edges")] == [before[t] for t in ("nodes", "edges")]
    assert (await hub.post(f"/runs/{run['run_id']}/cancel")).status_code == 202
    assert (await hub.wait_run(run))["status"] == "cancelled"
    assert (await hub.delete(f"/projects/{pid}/nodes/stuck")).status_code == 204
