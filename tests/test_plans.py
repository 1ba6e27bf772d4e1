"""Plans that grow the DAG, on real git repositories with the fake agent: a plan node's answer (a task
list) becomes nodes of its run below it, which run in order before the plan node's downstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, FakeAgents, LiveHub
from hubproc import hub_env, hub_process, stop_while_waiting, wait_for_event
from test_git_checkpoints import git_project

from orchestra.runtime.plans import PlanError, parse


def answer(*tasks: dict[str, Any]) -> str:
    """A plan node's prompt that makes the fake agent answer with this task list (one word: no spaces)."""
    text = json.dumps({"tasks": list(tasks)}, separators=(",", ":"))
    assert " " not in text
    return f"@result={text}"


def task(task_id: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "title": task_id.upper(), "prompt": f"@write={task_id}.txt:{task_id}",
            "depends_on": list(depends_on)} | fields


def by_prompt_file(agents: FakeAgents) -> dict[str, dict[str, Any]]:
    """Each recorded agent under the file its prompt writes (tasks and downstream nodes write one)."""
    return {r["prompt"].split()[0].split("=")[1].split(".")[0]: r for r in agents.recorded()
            if r["prompt"].startswith("@write=")}


async def test_a_plan_grows_three_tasks_that_run_in_order_before_its_downstream(
    hub: LiveHub, agents: FakeAgents
) -> None:
    project, _ = await git_project(hub)
    pid = project["id"]
    plan = await hub.create_node(pid, id="plan", kind="plan", prompt="Split the work. " + answer(
        task("a"), task("b"), task("c", "a", "b")))
    assert (plan["kind"], plan["max_tasks"], plan["max_depth"], plan["planned_by"]) == ("plan", None, None, None)
    await hub.create_node(pid, id="ship", prompt="@write=ship.txt:ship", depends_on=["plan"])
    launched = await hub.launch(pid)
    assert {e["node_id"] for e in launched["executions"]} == {"plan", "ship"}
    run = await hub.wait_run(launched)
    assert run["status"] == "succeeded", run
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert set(by_node) == {"plan", "plan.a", "plan.b", "plan.c", "ship"}
    assert all(e["status"] == "succeeded" for e in by_node.values())
    assert "Answer with your plan as a task list" in by_node["plan"]["prompt"]

    nodes = {n["id"]: n for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]}
    assert {n: nodes[n]["depends_on"] for n in ("plan.a", "plan.b", "plan.c", "ship")} == {
        "plan.a": ["plan"], "plan.b": ["plan"], "plan.c": ["plan.a", "plan.b"], "ship": ["plan", "plan.c"]}
    assert {nodes[n]["planned_by"] for n in ("plan.a", "plan.b", "plan.c")} == {"plan"}
    assert (nodes["plan.c"]["title"], nodes["plan.c"]["agent"]) == ("C", "claude-code")

    # in order, by what each one found: c builds on a and b, the plan's downstream on all three
    records = by_prompt_file(agents)
    assert {"a.txt", "b.txt"} <= records["c"]["files"].keys()
    assert {"a.txt", "b.txt", "c.txt"} <= records["ship"]["files"].keys()
    assert by_node["plan.c"]["base_commit"] != by_node["plan.a"]["commit_sha"]  # the merge of a and b
    assert "The plan's tasks:\n- plan.a: A\n- plan.b: B\n- plan.c: C" in by_node["plan.a"]["prompt"]
    assert "### C (plan.c)" in by_node["ship"]["prompt"]  # downstream gets the last tasks' results


async def test_running_a_plan_again_replaces_the_tasks_it_grew(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="plan", kind="plan", prompt=answer(task("b", "a"), task("a")))  # b named first
    await hub.create_node(pid, id="ship", depends_on=["plan"])
    first = await hub.wait_run(await hub.launch(pid))
    assert first["status"] == "succeeded"
    assert [e["node_id"] for e in first["executions"]] == ["plan", "ship", "plan.a", "plan.b"]
    patched = await hub.patch(f"/projects/{pid}/nodes/plan", {"prompt": answer(task("x"))})
    assert patched.status_code == 200
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded", run
    assert [e["node_id"] for e in run["executions"]] == ["plan", "ship", "plan.x"]
    nodes = {n["id"]: n for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]}
    assert set(nodes) == {"plan", "ship", "plan.x"}
    assert nodes["ship"]["depends_on"] == ["plan", "plan.x"]


BAD_PLANS = {
    "cyclic": (answer(task("a", "b"), task("b", "a")), "cyclic plan: a -> b -> a"),
    "notjson": ("@result=not-json", "malformed plan: the answer holds no JSON object (it begins 'not-json')"),
    "noprompt": (answer({"id": "a", "title": "A"}), "malformed plan: tasks.0.prompt: Field required"),
    "unknown": (answer(task("a", "zzz")), "malformed plan: task 'a' depends on unknown task(s): zzz"),
    "twice": (answer(task("a"), task("a")), "malformed plan: task id(s) used twice: a"),
    "agent": (answer(task("a", agent="nope")), "task 'a' names agent template 'nope', which does not exist"),
}


async def test_a_malformed_or_cyclic_plan_fails_the_plan_node_with_the_reason(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    for name, (prompt, _) in BAD_PLANS.items():
        await hub.create_node(pid, id=name, kind="plan", prompt=prompt)
        await hub.create_node(pid, id=f"{name}-below", depends_on=[name])
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "failed"
    by_node = {e["node_id"]: e for e in run["executions"]}
    for name, (_, reason) in BAD_PLANS.items():
        assert (by_node[name]["status"], by_node[name]["error"]) == ("failed", reason)
        assert by_node[f"{name}-below"]["status"] == "skipped"
        errors = [e["output"]["message"] for e in await hub.events(by_node[name]["id"])
                  if e["type"] == "execution.output" and e["output"]["kind"] == "error"]
        assert errors == [reason]
    nodes = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    assert len(nodes) == 2 * len(BAD_PLANS)  # nothing grew


async def test_a_plan_over_its_limits_fails_and_grows_nothing(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="many", kind="plan", max_tasks=2, prompt=answer(task("a"), task("b"), task("c")))
    await hub.create_node(pid, id="deep", kind="plan", max_depth=2, prompt=answer(task("a"), task("b", "a"),
                                                                                 task("c", "b")))
    await hub.create_node(pid, id="fits", kind="plan", max_tasks=3, max_depth=3,
                          prompt=answer(task("a"), task("b", "a"), task("c", "b")))
    run = await hub.wait_run(await hub.launch(pid))
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["many"]["error"] == "the plan has 3 tasks, over the node's max_tasks of 2"
    assert by_node["deep"]["error"] == "the plan chains 3 tasks, over the node's max_depth of 2"
    assert by_node["fits"]["status"] == "succeeded"
    assert {n for n in by_node if "." in n} == {"fits.a", "fits.b", "fits.c"}
    assert "At most 2 tasks; no chain of dependent tasks longer than 4" in by_node["many"]["prompt"]


def test_the_answer_may_hold_the_json_in_a_fenced_block() -> None:
    text = 'Here is the plan.\n```json\n{"tasks": [{"id": "a", "title": "A", "prompt": "do a"}]}\n```\nDone.'
    (only,) = parse(text, 10, 4)
    assert (only.id, only.depends_on, only.agent) == ("a", [], None)
    with pytest.raises(PlanError, match="malformed plan: tasks: List should have at least 1 item"):
        parse('{"tasks": []}', 10, 4)


BAD_NODES: list[tuple[dict[str, Any], str]] = [
    ({"max_tasks": 3}, "max_tasks"),  # limits of an agent node
    ({"kind": "gate", "agent": None, "max_depth": 2}, "max_depth"),
    ({"kind": "plan", "max_tasks": 0}, "max_tasks"),
    ({"kind": "plan", "max_tasks": 51}, "max_tasks"),
    ({"kind": "plan", "max_depth": 0}, "max_depth"),
    ({"kind": "plan", "max_depth": 2.5}, "max_depth"),
    ({"kind": "plan", "agent": None}, "agent"),
    ({"kind": "plans"}, "kind"),
    ({"review_plan": True}, "review_plan"),
    ({"kind": "plan", "review_plan": "yes"}, "review_plan"),
]


async def test_bad_plan_fields_are_refused_naming_the_field(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    for fields, field in BAD_NODES:
        await hub.refuse_node(pid, fields, field)
    await hub.create_node(pid, id="p", kind="plan", max_tasks=5)
    refused = await hub.patch(f"/projects/{pid}/nodes/p", {"kind": "agent"})
    assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == "max_tasks"
    assert (await hub.get(f"/projects/{pid}/nodes/p")).json()["kind"] == "plan"
    assert len((await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]) == 1


async def test_a_follow_up_of_a_plan_node_grows_its_answer_in_the_follow_up_run(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="plan", kind="plan", prompt=answer(task("a")))
    await hub.create_node(pid, id="ship", depends_on=["plan"])
    first = await hub.wait_run(await hub.launch(pid))
    plan_execution = next(e for e in first["executions"] if e["node_id"] == "plan")
    response = await hub.post(f"/executions/{plan_execution['id']}/follow-up", {"prompt": answer(task("z"))})
    assert response.status_code == 202, response.text
    run = await hub.wait_run(response.json())
    assert run["status"] == "succeeded", run
    assert [e["node_id"] for e in run["executions"]] == ["plan", "plan.z"]  # the downstream is not run again
    nodes = {n["id"]: n for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]}
    assert set(nodes) == {"plan", "ship", "plan.z"} and nodes["ship"]["depends_on"] == ["plan", "plan.z"]


async def waiting_review(hub: LiveHub, run_id: str) -> dict[str, Any]:
    async def read() -> list[dict[str, Any]]:
        return (await hub.get("/executions", params={"run_id": run_id, "node_id": "plan"})).json()["executions"]

    first = (await hub.get(f"/runs/{run_id}")).json()
    executions = await hub.wait_for(first["project_id"], lambda es: any(e["status"] == "waiting" for e in es), read)
    review: dict[str, Any] = next(e for e in executions if e["status"] == "waiting")
    assert review["agent"] == "gate"
    return review


async def test_a_reviewed_plan_waits_and_grows_the_task_list_as_approved_or_edited(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="plan", kind="plan", review_plan=True, prompt=answer(task("a"), task("b", "a")))
    await hub.create_node(pid, id="ship", depends_on=["plan"])
    await hub.create_node(pid, id="other", kind="gate", agent=None, title="other")
    launched = await hub.launch(pid)
    review = await waiting_review(hub, launched["run_id"])
    nodes = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    assert {n["id"] for n in nodes} == {"plan", "ship", "other"}  # nothing grows before the approval
    other = next(e for e in (await hub.get(f"/runs/{launched['run_id']}")).json()["executions"]
                 if e["node_id"] == "other")
    refusals = [
        (review["id"], "approve", {"plan": {"tasks": []}}, 422, "malformed plan: tasks: List should have at least 1"),
        (review["id"], "approve", {"plan": {"tasks": [task("x", "x")]}}, 422, "cyclic plan: x -> x"),
        (review["id"], "approve", {"plan": "tasks"}, 422, "'plan'"),
        (review["id"], "reject", {"plan": {"tasks": [task("x")]}}, 422, "'plan' is for approving"),
        (other["id"], "approve", {"plan": {"tasks": [task("x")]}}, 409, "is not a plan's review"),
    ]
    for execution_id, verb, body, status, message in refusals:
        response = await hub.post(f"/executions/{execution_id}/{verb}", body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]["message"]
    assert (await hub.get(f"/executions/{review['id']}")).json()["status"] == "waiting"  # nothing changed

    edited = {"tasks": [task("x"), task("y", "x", title="Why")]}
    response = await hub.post(f"/executions/{review['id']}/approve", {"plan": edited, "comment": "smaller"})
    assert response.status_code == 200, response.text
    await hub.post(f"/executions/{other['id']}/approve")
    run = await hub.wait_run(launched)
    assert run["status"] == "succeeded", run
    by_node = {e["node_id"]: e for e in run["executions"] if e["agent"] != "gate"}
    assert {"plan.x", "plan.y", "ship"} <= by_node.keys() and "plan.a" not in by_node
    nodes = {n["id"]: n for n in (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]}
    assert nodes["plan.y"]["title"] == "Why" and nodes["ship"]["depends_on"] == ["plan", "plan.y"]

    rejected = await hub.launch(pid, ["plan"])
    review = await waiting_review(hub, rejected["run_id"])
    assert (await hub.post(f"/executions/{review['id']}/reject", {"comment": "no"})).status_code == 200
    run = await hub.wait_run(rejected)
    assert run["status"] == "failed"
    assert [e["status"] for e in run["executions"] if e["node_id"] == "ship"] == ["skipped"]


async def test_a_waiting_plan_review_survives_a_restart(tmp_path: Path, agents: FakeAgents) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"))
    async with hub_process(env) as hub, hub.http() as http:
        pid = (await http.post("/projects", json={"name": "reviewed"})).json()["id"]
        node = {"id": "plan", "title": "Plan", "kind": "plan", "review_plan": True, "agent": "claude-code",
                "prompt": answer(task("a"))}
        assert (await http.post(f"/projects/{pid}/nodes", json=node)).status_code == 201
        launched, waiting = await stop_while_waiting(hub, http, pid)

    async with hub_process(env) as hub, hub.http() as http:
        response = await http.post(f"/executions/{waiting['execution_id']}/approve")
        assert response.status_code == 200, response.text
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished")
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
    assert run["status"] == "succeeded", run
    assert [(e["node_id"], e["status"]) for e in run["executions"]] == [
        ("plan", "succeeded"), ("plan", "succeeded"), ("plan.a", "succeeded")]
