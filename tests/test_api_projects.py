"""``/health``, ``/projects``, workspaces, the read side of runs and executions, and a hub restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import LiveHub, serving
from test_api_errors import assert_error, dump, unchanged

from orchestra import __version__
from orchestra.core.settings import Settings
from orchestra.storage.schema import MIGRATIONS


async def test_health_needs_no_token(hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        response = await anonymous.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["version"]) == ("ok", __version__)


async def test_project_lifecycle(hub: LiveHub) -> None:
    response = await hub.post("/projects", {"name": "  Alpha  ", "description": "first", "max_parallel": 3})
    assert response.status_code == 201, response.text
    project = response.json()
    pid = project["id"]
    assert project["name"] == "Alpha"
    assert (project["description"], project["max_parallel"]) == ("first", 3)
    assert (project["last_run"], project["state"], project["node_count"]) == (None, "idle", 0)
    assert project["workspace"] == str(hub.settings.workspaces_root / pid)
    assert await trio.Path(project["workspace"]).is_dir()
    other = await hub.create_project(name="Beta")

    listed = (await hub.get("/projects")).json()["projects"]
    assert [p["id"] for p in listed] == [pid, other["id"]]
    assert listed[0].items() <= project.items()  # the one-project view may add more (totals)
    assert (await hub.get(f"/projects/{pid}")).json() == project

    response = await hub.patch(f"/projects/{pid}", {"name": "Alpha 2", "max_parallel": None})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["name"], patched["description"], patched["max_parallel"]) == ("Alpha 2", "first", None)
    assert patched["updated_at"] >= project["updated_at"]
    assert (await hub.get(f"/projects/{pid}")).json() == patched
    # null for a required field leaves it alone
    assert (await hub.patch(f"/projects/{pid}", {"name": None})).json()["name"] == "Alpha 2"

    await hub.create_node(pid, id="a")
    await hub.create_node(pid, id="b", depends_on=["a"])
    assert (await hub.get(f"/projects/{pid}")).json()["node_count"] == 2
    response = await hub.delete(f"/projects/{pid}")
    assert (response.status_code, response.content) == (204, b"")
    assert_error(await hub.get(f"/projects/{pid}"), 404, "not_found", pid)
    rows = await dump(hub)
    assert [r for table in ("nodes", "edges", "events") for r in rows[table] if pid in r] == []
    assert [p["id"] for p in (await hub.get("/projects")).json()["projects"]] == [other["id"]]


async def test_unknown_project_is_404_on_every_route(hub: LiveHub) -> None:
    await hub.create_project()
    async with unchanged(hub):
        for method, path, body in [
            ("GET", "/projects/prj_nope", None), ("PATCH", "/projects/prj_nope", {"name": "x"}),
            ("PATCH", "/projects/prj_nope", {"workspace": "w"}), ("DELETE", "/projects/prj_nope", None),
            ("GET", "/projects/prj_nope/nodes", None),
            ("POST", "/projects/prj_nope/nodes", {"title": "t", "prompt": "p", "agent": "codex"}),
            ("GET", "/projects/prj_nope/nodes/a", None), ("PATCH", "/projects/prj_nope/nodes/a", {"title": "t"}),
            ("DELETE", "/projects/prj_nope/nodes/a", None), ("POST", "/launch", {"project_id": "prj_nope"}),
            ("GET", "/runs?project_id=prj_nope", None),
        ]:
            assert_error(await hub.http.request(method, path, json=body), 404, "not_found", "'prj_nope'")
    assert not (hub.settings.workspaces_root / "w").exists()


async def test_delete_while_running_is_409(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="stuck", prompt="@hang")
    run = await hub.launch(pid)
    await hub.wait_execution(run["executions"][0]["id"], {"running"})
    assert_error(await hub.delete(f"/projects/{pid}"), 409, "conflict", pid)
    assert (await hub.get(f"/projects/{pid}")).status_code == 200
    assert (await hub.post(f"/runs/{run['run_id']}/cancel")).status_code == 202
    assert (await hub.wait_run(run))["status"] == "cancelled"
    assert (await hub.delete(f"/projects/{pid}")).status_code == 204


# -- workspaces -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "under_root"), [("mine", "mine"), ("team/mine", "team/mine"), ("a/../mine", "mine"),
                                  ("./mine/", "mine")])
async def test_relative_workspace_is_taken_under_the_root(hub: LiveHub, requested: str, under_root: str) -> None:
    project = await hub.create_project(workspace=requested)
    expected = hub.settings.workspaces_root / under_root
    assert project["workspace"] == str(expected)
    assert await trio.Path(expected).is_dir()


async def test_absolute_workspace_inside_the_root_is_kept(hub: LiveHub) -> None:
    inside = hub.settings.workspaces_root / "abs"
    assert (await hub.create_project(workspace=str(inside)))["workspace"] == str(inside)


async def test_workspace_escaping_the_root_is_refused(hub: LiveHub, tmp_path: Path) -> None:
    root = hub.settings.workspaces_root
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").parent.mkdir(parents=True, exist_ok=True)
    (root / "link").symlink_to(outside, target_is_directory=True)
    pid = (await hub.create_project())["id"]
    bad = ["..", "../escaped", "a/../../escaped", str(outside), str(tmp_path / "new"), "/etc", "link",
           "link/sub", ".", str(root), "bad\x00byte"]
    async with unchanged(hub):
        for workspace in bad:
            response = await hub.post("/projects", {"name": "p", "workspace": workspace})
            assert_error(response, 422, "validation_error", "workspace")
            response = await hub.patch(f"/projects/{pid}", {"workspace": workspace})
            assert_error(response, 422, "validation_error", "workspace")
    assert sorted(p.name for p in outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "new").exists()


async def test_workspace_that_is_a_file_is_refused(hub: LiveHub) -> None:
    root = hub.settings.workspaces_root
    root.mkdir(parents=True, exist_ok=True)
    (root / "file").write_text("not a directory")
    async with unchanged(hub):
        assert_error(await hub.post("/projects", {"name": "p", "workspace": "file"}), 422, "validation_error",
                     "workspace", "not a directory")


# -- runs and executions (read side) --------------------------------------------------------------


async def test_executions_filters_and_pagination(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    other = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a", prompt="first")
    await hub.create_node(pid, id="b", prompt="second @fail", depends_on=["a"])
    await hub.create_node(pid, id="c", prompt="third", depends_on=["a"])
    await hub.create_node(other, id="z")
    first = await hub.wait_run(await hub.launch(pid))
    second = await hub.wait_run(await hub.launch(pid))
    await hub.wait_run(await hub.launch(other))
    ours = [e["id"] for e in first["executions"] + second["executions"]][::-1]  # newest first

    listed = (await hub.get("/executions", params={"project_id": pid})).json()
    assert [e["id"] for e in listed["executions"]] == ours
    assert listed["next_before"] is None
    assert len((await hub.get("/executions")).json()["executions"]) == 7

    pages: list[str] = []
    params: dict[str, Any] = {"project_id": pid, "limit": 4}
    while True:
        page = (await hub.get("/executions", params=params)).json()
        pages.extend(e["id"] for e in page["executions"])
        if page["next_before"] is None:
            break
        assert page["next_before"] == page["executions"][-1]["id"]
        params["before"] = page["next_before"]
    assert pages == ours

    async def ids(**filters: str) -> list[str]:
        response = await hub.get("/executions", params={"project_id": pid} | filters)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()["executions"]]

    every = {e["id"]: e for e in first["executions"] + second["executions"]}
    assert await ids(node_id="b") == [i for i in ours if every[i]["node_id"] == "b"]
    assert await ids(run_id=first["id"]) == [e["id"] for e in first["executions"]][::-1]
    assert await ids(status="failed") == [i for i in ours if every[i]["status"] == "failed"]
    assert len(await ids(status="failed")) == 2
    assert await ids(status="cancelled") == []
    assert await ids(node_id="z") == []

    execution = second["executions"][0]
    assert (await hub.get(f"/executions/{execution['id']}")).json() == execution
    assert_error(await hub.get("/executions/exe_nope"), 404, "not_found", "exe_nope")


async def test_runs_list_and_detail(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    other = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    await hub.create_node(other, id="a")
    first = await hub.wait_run(await hub.launch(pid))
    second = await hub.wait_run(await hub.launch(pid))
    elsewhere = await hub.wait_run(await hub.launch(other))
    runs = (await hub.get("/runs", params={"project_id": pid})).json()["runs"]
    assert [r["id"] for r in runs] == [second["id"], first["id"]]
    assert {r["status"] for r in runs} == {"succeeded"}
    assert [r["id"] for r in (await hub.get("/runs", params={"limit": 1})).json()["runs"]] == [elsewhere["id"]]
    detail = (await hub.get(f"/runs/{first['id']}")).json()
    assert (detail["project_id"], [e["node_id"] for e in detail["executions"]]) == (pid, ["a"])
    assert_error(await hub.get("/runs/run_nope"), 404, "not_found", "run_nope")


# -- persistence ----------------------------------------------------------------------------------


async def test_every_row_survives_a_restart(settings: Settings) -> None:
    async with serving(settings) as hub:
        pid = (await hub.create_project(name="keep me", workspace="kept"))["id"]
        await hub.create_node(pid, id="a", title="A", position={"x": 1.5, "y": -2})
        await hub.create_node(pid, id="b", title="B", depends_on=["a"], model="m", timeout_s=30, retries=2)
        await hub.create_node(pid, id="c", title="C", depends_on=["a", "b"])
        template = {"id": "mine", "name": "Mine", "command": ["mine", "{prompt}"], "output": "text",
                    "env": {"K": "v"}}
        assert (await hub.post("/agent-templates", template)).status_code == 201
        api_before = [(await hub.get(path)).json() for path in
                      (f"/projects/{pid}", f"/projects/{pid}/nodes", "/agent-templates/mine")]
        rows_before = await dump(hub)
    assert [len(rows_before[t]) for t in ("projects", "nodes", "edges", "agent_templates", "events")] == [
        1, 3, 3, 1, 3]

    async with serving(settings) as hub:
        assert await dump(hub) == rows_before
        api_after = [(await hub.get(path)).json() for path in
                     (f"/projects/{pid}", f"/projects/{pid}/nodes", "/agent-templates/mine")]
        assert api_after == api_before
        assert [n["depends_on"] for n in api_after[1]["nodes"]] == [[], ["a"], ["a", "b"]]
        version = await hub.running.hub.db.read(lambda db: db.execute("PRAGMA user_version").fetchone()[0])
        assert version == len(MIGRATIONS)
        # the sequence continues after the restart, without a gap
        await hub.create_node(pid, id="d")
        seqs = await hub.running.hub.db.read(
            lambda db: [r[0] for r in db.execute("SELECT seq FROM events WHERE project_id = ? ORDER BY seq",
                                                 [pid])])
        assert seqs == [1, 2, 3, 4]
