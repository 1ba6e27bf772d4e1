"""Flows as files: export a project as TOML, apply a file to make a project match it (idempotent,
refused during a run, bad files refused naming the line and field), over REST and through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import TOKEN, WAIT_S, FakeAgents, LiveHub, make_settings, serving
from hubproc import ENTRY

TOML = {"Content-Type": "application/toml"}
VOLATILE = {"project_id", "created_at", "updated_at"}
FLOWS_DOC = Path(__file__).resolve().parents[1] / "docs" / "FLOWS.md"


@asynccontextmanager
async def fresh_hub(root: Path, agents: FakeAgents) -> AsyncIterator[LiveHub]:
    """A second hub with its own database and workspaces: the 'other machine' of a round trip."""
    await trio.Path(root).mkdir()
    async with serving(make_settings(root, agents)) as other:
        yield other


async def build_project(hub: LiveHub) -> str:
    """A project using what a flow carries: a user template, a gate, budgets, positions, multi-line
    prompts with quotes, retries, timeouts and a model."""
    template = {"id": "echo-agent", "name": "Echo", "command": ["echo", "{prompt}"], "output": "text",
                "env": {"MODE": "quiet"}, "stdin_prompt": {"argument": "-"}}
    assert (await hub.post("/agent-templates", template)).status_code == 201
    project = await hub.create_project(name="shop", description="The shop.\nTwo lines.", max_parallel=2,
                                       workspace="shop-repo")
    pid = project["id"]
    await hub.create_node(pid, id="plan", title="Plan", prompt='Write PLAN.md:\n- "quoted"\n- a \\ backslash\n',
                          model="opus", timeout_s=600, budget={"cost_usd": 0.5, "tokens": 20000},
                          position={"x": 10.5, "y": -20})
    await hub.create_node(pid, id="review", kind="gate", agent=None, title="Review the plan", depends_on=["plan"],
                          timeout_s=3600)
    await hub.create_node(pid, id="build", title="Build", prompt="Implement {{upstream.plan.result}}",
                          agent="codex", depends_on=["review", "plan"], retries=2)
    await hub.create_node(pid, id="notes", title="Notes", prompt="note it", agent="echo-agent")
    return pid


def comparable(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in node.items() if k not in VOLATILE} for node in nodes]


async def apply(hub: LiveHub, text: str, **params: str) -> httpx.Response:
    return await hub.post("/flows/apply", content=text.encode(), headers=TOML, params=params)


async def test_export_then_apply_on_a_fresh_hub_reproduces_the_project(
        hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    pid = await build_project(hub)
    exported = await hub.get(f"/projects/{pid}/flow")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/toml")
    text = exported.text
    assert 'prompt = """\nWrite PLAN.md:' in text  # multi-line prompts stay readable
    assert "[[templates]]" in text and 'id = "echo-agent"' in text
    assert 'workspace = "shop-repo"' in text  # relative to the workspaces root, as the API takes it
    assert "claude-code" not in text.split("[[nodes]]")[0]  # built-in templates are not exported
    assert "quiet" not in text and "env = { MODE = \"\" }" in text and "values are set on the hub" in text

    async with fresh_hub(tmp_path / "other", agents) as other:
        created = await apply(other, text)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["project_created"] and body["changed"]
        assert body["diff"] == ["+ project shop", "+ template echo-agent", "+ node plan", "+ node review",
                                "+ node build", "+ node notes"]
        new_pid = body["project_id"]
        assert new_pid != pid
        project = (await other.get(f"/projects/{new_pid}")).json()
        assert (project["name"], project["description"]) == ("shop", "The shop.\nTwo lines.")
        assert project["max_parallel"] == 2
        assert project["workspace"] == str(other.settings.workspaces_root / "shop-repo")
        mine = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
        theirs = (await other.get(f"/projects/{new_pid}/nodes")).json()["nodes"]
        assert comparable(theirs) == comparable(mine)
        template = (await other.get("/agent-templates/echo-agent")).json()
        # env values stay on the hub they were set on (they are often secrets): the names travel, with ""
        assert template["env"] == {"MODE": ""} and template["stdin_prompt"] == {"argument": "-"}
        assert (await other.get(f"/projects/{new_pid}/flow")).text == text

        again = await apply(other, text)  # the second apply changes nothing, and says so
        assert again.status_code == 200, again.text
        assert again.json() | {"project_id": None} == {
            "project_id": None, "project_created": False, "dry_run": False, "changed": False, "changes": [],
            "diff": []}
        assert comparable((await other.get(f"/projects/{new_pid}/nodes")).json()["nodes"]) == comparable(mine)


async def test_apply_creates_updates_and_deletes_nodes_to_match(hub: LiveHub) -> None:
    pid = await build_project(hub)
    text = (await hub.get(f"/projects/{pid}/flow")).text
    plan_to_notes = text.split("[[nodes]]")
    edited = "[[nodes]]".join(part for part in plan_to_notes if 'id = "notes"' not in part)  # delete notes
    edited = edited.replace("retries = 2", "retries = 1").replace('model = "opus"\n', "")
    edited += '\n[[nodes]]\nid = "ship"\ntitle = "Ship"\nagent = "gemini"\ndepends_on = ["build"]\nprompt = "ship"\n'
    edited = edited.replace('description = """\nThe shop.\nTwo lines."""', 'description = "One line."')

    dry = await apply(hub, edited, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] and dry.json()["changed"]
    assert len((await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]) == 4  # a dry run changes nothing

    with hub.running.hub.bus.subscribe(pid) as subscription:  # what a UI open on the project sees
        response = await apply(hub, edited)
        assert response.status_code == 200, response.text
        seen: list[tuple[str, str]] = []
        with trio.fail_after(WAIT_S):
            while len(seen) < 4:
                seen += [(e["type"], e["node_id"]) for e in map(json.loads, (
                    stored.body for stored in await subscription.next_batch(100)))]
    assert sorted(seen) == [("node.created", "ship"), ("node.deleted", "notes"), ("node.updated", "build"),
                            ("node.updated", "plan")]
    body = response.json()
    assert body["project_id"] == pid and not body["project_created"]
    assert body["diff"] == [
        '~ project shop: description "The shop.\\nTwo lines." -> "One line."',
        '~ node plan: model "opus" -> null',
        "~ node build: retries 2 -> 1",
        "+ node ship",
        "- node notes",
    ]
    nodes = {n["id"]: n for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]}
    assert list(nodes) == ["plan", "review", "build", "ship"]
    assert nodes["plan"]["model"] is None and nodes["build"]["retries"] == 1
    assert nodes["ship"]["depends_on"] == ["build"] and nodes["ship"]["agent"] == "gemini"
    assert (await hub.get(f"/projects/{pid}")).json()["description"] == "One line."
    assert (await apply(hub, edited)).json()["changed"] is False


async def test_apply_is_refused_with_the_diff_while_a_run_is_active(hub: LiveHub) -> None:
    project = await hub.create_project(name="busy")
    pid = project["id"]
    await hub.create_node(pid, id="long", prompt="@hang")
    text = (await hub.get(f"/projects/{pid}/flow")).text
    launched = await hub.launch(pid)
    await hub.wait_execution(launched["executions"][0]["id"], {"running"})
    before = (await hub.get(f"/projects/{pid}/nodes")).json()

    edited = text.replace('prompt = "@hang"', 'prompt = "@hang later"')
    edited += '\n[[nodes]]\nid = "next"\ntitle = "Next"\nagent = "codex"\ndepends_on = ["long"]\n'
    refused = await apply(hub, edited)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert f"run in progress ({launched['run_id']})" in error["message"]
    assert '~ node long: prompt "@hang" -> "@hang later"' in error["message"]
    assert "+ node next" in error["message"]
    assert error["details"]["run_id"] == launched["run_id"]
    assert [c["op"] for c in error["details"]["changes"]] == ["update", "create"]
    assert (await hub.get(f"/projects/{pid}/nodes")).json() == before

    unchanged = await apply(hub, text)  # the file as it is: nothing to change, so nothing to refuse
    assert unchanged.status_code == 200 and unchanged.json()["changed"] is False

    assert (await hub.post(f"/runs/{launched['run_id']}/cancel")).status_code == 202
    await hub.wait_run(launched)
    assert (await apply(hub, edited)).json()["changed"] is True


GOOD = """\
version = 1

[project]
name = "lines"

[[nodes]]
id = "a"
title = "A"
agent = "claude-code"
prompt = \"\"\"
several
lines = not a key
\"\"\"

[[nodes]]
id = "b"
title = "B"
agent = "codex"
depends_on = ["a"]
timeout_s = 60

[nodes.budget]
tokens = 1000
"""


@pytest.mark.parametrize(("edit", "line", "expected"), [
    (("timeout_s = 60", "timeout_s = -1"), 20, "nodes[1] (id 'b').timeout_s: Input should be greater than 0"),
    (('title = "B"\n', ""), 15, "nodes[1] (id 'b').title: required field is missing"),
    (("timeout_s = 60", 'colour = "red"'), 20, "nodes[1] (id 'b').colour: Extra inputs are not permitted"),
    (('depends_on = ["a"]', 'depends_on = ["z"]'), 19,
     "nodes[1] (id 'b').depends_on: names node(s) the flow does not define: z"),
    (('prompt = """', 'depends_on = ["b"]\nprompt = """'), 10,
     "nodes[0] (id 'a').depends_on: closes a cycle: a -> b -> a"),
    (('id = "b"', 'id = "a"'), 16, "nodes[1] (id 'a').id: node 'a' is defined twice"),
    (('agent = "codex"', 'agent = "nobody"'), 18,
     "nodes[1] (id 'b').agent: agent template 'nobody' does not exist on this hub"),
    (("tokens = 1000", 'tokens = "many"'), 23, "nodes[1] (id 'b').budget.tokens: Input should be a valid integer"),
    (('[project]\nname = "lines"', '[project]\nname = "lines"\nwat = 1'), 5, "project.wat: Extra inputs"),
    (('title = "A"', 'title = "A'), 8, "column 11: not valid TOML: Illegal character"),
    (("version = 1", "version = 2"), 1, "version: Input should be 1"),
    (('agent = "codex"\n', ""), 15, "nodes[1] (id 'b').agent: an agent node needs 'agent'"),
])
async def test_a_bad_flow_file_is_refused_naming_its_line_and_field(
        hub: LiveHub, edit: tuple[str, str], line: int, expected: str) -> None:
    assert (await apply(hub, GOOD, dry_run="1")).status_code == 200  # the unedited file is fine
    text = GOOD.replace(*edit)
    assert text != GOOD
    response = await apply(hub, text)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith(f"flow file line {line}, "), error["message"]
    assert expected in error["message"], error["message"]
    assert error["details"][0]["line"] == line
    assert (await hub.get("/projects")).json()["projects"] == []  # nothing was created


async def test_apply_refuses_bad_requests_and_changes_nothing(hub: LiveHub) -> None:
    template = {"id": "mine", "name": "Mine", "command": ["mine", "{prompt}"], "output": "text"}
    assert (await hub.post("/agent-templates", template)).status_code == 201
    pid = (await hub.create_project(name="lines"))["id"]
    flow = GOOD + '\n[[templates]]\nid = "mine"\nname = "Mine"\ncommand = ["other", "{prompt}"]\noutput = "text"\n'
    cases = [
        (await apply(hub, "  \n"), 400, "request body is empty"),
        (await hub.post("/flows/apply", content=b"\xff\xfe", headers=TOML), 400, "not UTF-8"),
        (await apply(hub, GOOD, dry_run="maybe"), 422, "query parameter 'dry_run'"),
        (await apply(hub, GOOD, project_id="prj_nope"), 404, "project 'prj_nope' does not exist"),
        (await apply(hub, flow), 409, "agent template 'mine' exists on this hub with another command"),
        (await apply(hub, GOOD.replace('agent = "codex"', 'agent = "codex"\nkind = "gate"')), 422,
         "a gate runs no agent"),
        (await apply(hub, GOOD.replace('[project]', '[[templates]]\nid = "codex"\nname = "X"\ncommand = ["x"]\n'
                                       'output = "text"\n\n[project]')), 422, "'codex' is a built-in template"),
        (await apply(hub, GOOD.replace('name = "lines"', 'name = "lines"\nworkspace = "../../etc"')), 422,
         "flow file line 5, project.workspace: workspace '../../etc' resolves outside the workspaces root"),
    ]
    for response, status, text in cases:
        assert response.status_code == status, response.text
        assert text in response.json()["error"]["message"], response.text
    assert (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"] == []
    assert (await hub.get("/agent-templates/mine")).json()["command"] == ["mine", "{prompt}"]
    await hub.create_project(name="lines")
    twice = await apply(hub, GOOD)
    assert twice.status_code == 409 and "2 projects are named 'lines'" in twice.json()["error"]["message"]
    exported = await hub.get("/projects/prj_nope/flow")
    assert exported.status_code == 404


async def run_cli(hub: LiveHub, cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(WAIT_S):
        return await trio.run_process([sys.executable, str(ENTRY), *args, "--hub", hub.url, "--token", TOKEN],
                                      cwd=cwd, capture_stdout=True, capture_stderr=True, check=False)


async def test_cli_export_and_apply_from_another_directory(hub: LiveHub, tmp_path: Path) -> None:
    pid = await build_project(hub)
    elsewhere = tmp_path / "repo"
    elsewhere.mkdir()
    exported = await run_cli(hub, elsewhere, "export", "shop")
    assert exported.returncode == 0, exported.stderr.decode()
    assert exported.stdout.decode() == (await hub.get(f"/projects/{pid}/flow")).text
    (elsewhere / "flow.toml").write_bytes(exported.stdout.replace(b"retries = 2", b"retries = 3"))

    dry = await run_cli(hub, elsewhere, "apply", "flow.toml", "--dry-run")
    assert dry.returncode == 0, dry.stderr.decode()
    assert dry.stdout.decode().splitlines() == [
        "~ node build: retries 2 -> 3", f"dry run: applying flow.toml would make 1 change(s) to project {pid}"]
    applied = await run_cli(hub, elsewhere, "apply", "flow.toml")
    assert applied.returncode == 0, applied.stderr.decode()
    assert applied.stdout.decode().splitlines() == [
        "~ node build: retries 2 -> 3", f"applied flow.toml to project {pid}: 1 change(s)"]
    again = await run_cli(hub, elsewhere, "apply", "flow.toml")
    assert again.stdout.decode() == f"no changes: project {pid} already matches flow.toml\n"

    (elsewhere / "bad.toml").write_bytes(exported.stdout.replace(b"retries = 2", b"retries = -1"))
    bad = await run_cli(hub, elsewhere, "apply", "bad.toml")
    assert bad.returncode == 1
    line = exported.stdout.decode().splitlines().index("retries = 2") + 1
    assert bad.stderr.decode() == (f"orchestra: bad.toml line {line}, nodes[2] (id 'build').retries: "
                                   "Input should be greater than or equal to 0\n")
    missing = await run_cli(hub, elsewhere, "apply", "nope.toml")
    assert missing.returncode == 1 and "cannot read nope.toml: No such file or directory" in missing.stderr.decode()
    (elsewhere / "new.toml").write_bytes(exported.stdout.replace(b'name = "shop"', b'name = "shop two"'))
    renamed = await run_cli(hub, elsewhere, "apply", "new.toml", "--project", "shop", "--dry-run")
    assert renamed.stdout.decode().splitlines()[0] == '~ project shop: name "shop" -> "shop two"'
    created = await run_cli(hub, elsewhere, "apply", "new.toml")
    assert created.returncode == 0 and "+ project shop two" in created.stdout.decode()


async def test_the_documented_example_applies_and_exports_as_written(hub: LiveHub) -> None:
    docs = await trio.Path(FLOWS_DOC).read_text()
    example = docs.split("```toml\n", 1)[1].split("```", 1)[0]
    applied = await apply(hub, example)
    assert applied.status_code == 201, applied.text
    assert applied.json()["diff"] == ["+ project shop", "+ template aider", "+ node plan", "+ node review",
                                      "+ node build", "+ node docs", "+ node ship"]
    assert (await hub.get(f"/projects/{applied.json()['project_id']}/flow")).text == example


async def test_a_node_may_depend_on_one_the_file_defines_after_it(hub: LiveHub) -> None:
    text = ('[project]\nname = "order"\n\n[[nodes]]\nid = "b"\ntitle = "B"\nagent = "codex"\ndepends_on = ["a"]\n\n'
            '[[nodes]]\nid = "a"\ntitle = "A"\nagent = "codex"\n')
    created = await apply(hub, text)
    assert created.status_code == 201, created.text
    pid = created.json()["project_id"]
    nodes = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    assert [(n["id"], n["depends_on"]) for n in nodes] == [("b", ["a"]), ("a", [])]  # the file's order
    assert (await apply(hub, text)).json()["changed"] is False
    assert (await hub.get(f"/projects/{pid}/flow")).text.endswith('id = "a"\ntitle = "A"\nagent = "codex"\n')


async def test_a_plans_grown_tasks_stay_out_of_the_flow(hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    """A plan node's tasks belong to its last run: export leaves them (and the edges to them) out, apply
    neither deletes nor recreates them, and the plan grows them again on the other hub."""
    project = await hub.create_project(name="planned")
    pid = project["id"]
    plan_prompt = '@result={"tasks":[{"id":"a","title":"A","prompt":"do-a"}]}'
    await hub.create_node(pid, id="plan", kind="plan", check=["true"], prompt=plan_prompt)
    await hub.create_node(pid, id="ship", prompt="ship it", depends_on=["plan"])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded", run
    nodes = {n["id"]: n for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]}
    assert nodes["ship"]["depends_on"] == ["plan", "plan.a"]

    text = (await hub.get(f"/projects/{pid}/flow")).text
    assert "plan.a" not in text
    assert 'check = [\n    "true",\n]' in text or 'check = ["true"]' in text
    again = await apply(hub, text)  # the grown task and its edge are left as they are
    assert again.status_code == 200, again.text
    assert (again.json()["changed"], again.json()["diff"]) == (False, [])
    assert set(n["id"] for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]) == {"plan", "ship", "plan.a"}

    async with fresh_hub(tmp_path / "other", agents) as other:
        created = await apply(other, text)
        assert created.status_code == 201, created.text
        new_pid = created.json()["project_id"]
        rerun = await other.wait_run(await other.launch(new_pid))
        assert rerun["status"] == "succeeded", rerun
        assert sorted(e["node_id"] for e in rerun["executions"]) == ["plan", "plan.a", "ship"]


async def test_a_land_nodes_forge_round_trips_and_is_refused_on_another_mode(
        hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    pid = (await hub.create_project(name="shipping"))["id"]
    await hub.create_node(pid, id="a", title="A", prompt="p")
    land = {"mode": "pull_request", "remote": "upstream", "base": "main", "forge": "gitlab"}
    await hub.create_node(pid, id="ship", title="Ship", kind="land", agent=None, land=land, depends_on=["a"])
    await hub.create_node(pid, id="keep", title="Keep", kind="land", agent=None, land={"mode": "merge"},
                          depends_on=["a"])
    text = (await hub.get(f"/projects/{pid}/flow")).text
    assert 'forge = "gitlab"' in text and text.count("forge") == 1  # a merge node has none, GitHub is the default
    assert "TOKEN" not in text
    async with fresh_hub(tmp_path / "other", agents) as other:
        created = await apply(other, text)
        assert created.status_code == 201, created.text
        listed = await other.get(f"/projects/{created.json()['project_id']}/nodes")
        nodes = {n["id"]: n for n in listed.json()["nodes"]}
        assert nodes["ship"]["land"] == land and nodes["keep"]["land"] == {"mode": "merge"}
        assert (await apply(other, text)).json()["changed"] is False
    refused = await apply(hub, text.replace('mode = "pull_request"', 'mode = "push"'))
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert "nodes[1] (id 'ship').land.forge" in message and "mode 'push' has no 'forge'" in message, message
    nodes = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    assert [n["land"] for n in nodes if n["id"] == "ship"] == [land]  # nothing changed
