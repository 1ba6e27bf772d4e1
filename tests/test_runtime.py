"""The actor runtime end to end: a real hub, real agent subprocesses replaying real transcripts."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import FakeAgents, LiveHub


def overlapping(executions: list[dict[str, Any]]) -> int:
    """The largest number of executions that ran at the same time."""
    marks = sorted([(e["started_at"], 1) for e in executions] + [(e["finished_at"], -1) for e in executions])
    running = peak = 0
    for _, delta in marks:
        running += delta
        peak = max(peak, running)
    return peak


def outputs(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["output"] for e in events if e["type"] == "execution.output" and e["output"]["kind"] == kind]


async def fan_out_dag(hub: LiveHub, agent: str) -> tuple[str, dict[str, Any]]:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="a", title="Plan", prompt="Create hello.txt", agent=agent)
    await hub.create_node(pid, id="b", title="Build", prompt="Use {{upstream.a.result}}", agent=agent,
                          depends_on=["a"])
    await hub.create_node(pid, id="c", title="Check", prompt="Check it", agent=agent, depends_on=["a"])
    run = await hub.wait_run(await hub.launch(pid))
    return pid, run


@pytest.mark.parametrize(
    ("agent", "result", "session", "tokens", "cost"),
    [
        ("claude-code", "Done: created hello.txt containing hi.", "626745bb-6241-46ee-ad5d-21a2bdc53426",
         (50, 24), 0.00051),
        ("codex", "Done: created hello.txt containing hi.", "01a213b0-c209-7b93-8b91-6bb0d0f603ed", (60, 24), None),
        ("gemini", "Done: created hello.txt containing hi.", "d8328be1-5bfb-48fb-9362-8d7bf9283795", (90, 36), None),
    ],
)
async def test_fan_out_dag_succeeds_and_passes_results_down(
    hub: LiveHub, agent: str, result: str, session: str, tokens: tuple[int, int], cost: float | None
) -> None:
    _, run = await fan_out_dag(hub, agent)
    assert run["status"] == "succeeded", run
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert set(by_node) == {"a", "b", "c"}
    for execution in by_node.values():
        assert execution["status"] == "succeeded"
        assert execution["exit_code"] == 0
        assert execution["result_text"] == result
        assert execution["session_id"] == session
        assert (execution["input_tokens"], execution["output_tokens"]) == tokens
        assert execution["cost_usd"] == cost
    assert by_node["b"]["prompt"] == f"Use {result}"
    assert by_node["c"]["prompt"].startswith("Check it\n\n---\n")
    assert result in by_node["c"]["prompt"]
    # a started before b and c: they need its result
    assert by_node["a"]["finished_at"] <= by_node["b"]["started_at"]
    events = await hub.events(by_node["a"]["id"])
    texts = [o["text"] for o in outputs(events, "text")]
    assert "".join(texts).endswith(result)
    tool_uses = outputs(events, "tool_use")
    assert len(tool_uses) == 1
    usage = outputs(events, "usage")
    assert (usage[-1]["input_tokens"], usage[-1]["output_tokens"]) == tokens
    assert [e["type"] for e in events][:2] == ["execution.queued", "execution.started"]
    assert [e["type"] for e in events][-1] == "execution.finished"
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)


async def test_failed_node_skips_downstream_and_relaunch_runs_only_that_part(
    hub: LiveHub, agents: FakeAgents
) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="first")
    await hub.create_node(pid, id="b", prompt="second @fail", depends_on=["a"])
    await hub.create_node(pid, id="c", prompt="third", depends_on=["b"])
    await hub.create_node(pid, id="d", prompt="independent", depends_on=["a"])
    run = await hub.wait_run(await hub.launch(pid))
    status = {e["node_id"]: e["status"] for e in run["executions"]}
    assert status == {"a": "succeeded", "b": "failed", "c": "skipped", "d": "succeeded"}
    assert run["status"] == "failed"

    response = await hub.patch(f"/projects/{pid}/nodes/b", {"prompt": "second, fixed"})
    assert response.status_code == 200
    rerun = await hub.wait_run(await hub.launch(pid, ["b"]))
    assert rerun["status"] == "succeeded"
    assert sorted(e["node_id"] for e in rerun["executions"]) == ["b", "c"]
    b = next(e for e in rerun["executions"] if e["node_id"] == "b")
    assert "Done: created hello.txt containing hi." in b["prompt"]  # a's result from the first run


async def test_relaunch_below_a_node_that_never_succeeded_is_refused(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="first")
    await hub.create_node(pid, id="b", prompt="second", depends_on=["a"])
    response = await hub.post("/launch", {"project_id": pid, "node_ids": ["b"]})
    assert response.status_code == 409
    assert "'a'" in response.json()["error"]["message"]
    assert (await hub.get("/runs", params={"project_id": pid})).json()["runs"] == []


async def test_timeout_stops_the_agent_and_marks_timed_out(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="slow", prompt="@hang @child", timeout_s=0.5)
    run = await hub.wait_run(await hub.launch(pid))
    (execution,) = run["executions"]
    assert execution["status"] == "timed_out"
    assert "timed out after 0.5 s" in execution["error"]
    assert run["status"] == "failed"
    errors = outputs(await hub.events(execution["id"]), "error")
    assert any("timed out" in e["message"] for e in errors)


async def test_cancel_one_execution_leaves_its_sibling_running(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="stuck", prompt="@hang @child")
    await hub.create_node(pid, id="fine", prompt="@sleep=0.3")
    launched = await hub.launch(pid)
    stuck = next(e["id"] for e in launched["executions"] if e["node_id"] == "stuck")
    await hub.wait_execution(stuck, {"running"})
    response = await hub.post(f"/executions/{stuck}/cancel")
    assert response.status_code == 202
    run = await hub.wait_run(launched)
    status = {e["node_id"]: e["status"] for e in run["executions"]}
    assert status == {"stuck": "cancelled", "fine": "succeeded"}
    again = await hub.post(f"/executions/{stuck}/cancel")
    assert again.status_code == 409


async def test_cancel_run_ends_running_and_queued_executions(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a", prompt="@hang @ignore-term")
    await hub.create_node(pid, id="b", prompt="after", depends_on=["a"])
    launched = await hub.launch(pid)
    a = next(e["id"] for e in launched["executions"] if e["node_id"] == "a")
    await hub.wait_execution(a, {"running"})
    response = await hub.post(f"/runs/{launched['run_id']}/cancel")
    assert response.status_code == 202
    run = await hub.wait_run(launched)
    assert run["status"] == "cancelled"
    assert {e["node_id"]: e["status"] for e in run["executions"]} == {"a": "cancelled", "b": "cancelled"}
    assert (await hub.post(f"/runs/{launched['run_id']}/cancel")).status_code == 409


async def test_retries_make_a_new_execution_per_attempt(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="flaky", prompt="@fail", retries=2)
    run = await hub.wait_run(await hub.launch(pid))
    attempts = [(e["attempt"], e["status"]) for e in run["executions"]]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert len({e["id"] for e in run["executions"]}) == 3


async def test_crash_garbage_and_missing_executable_fail_only_their_own_node(
    hub: LiveHub, agents: FakeAgents
) -> None:
    response = await hub.post("/agent-templates", {
        "id": "ghost", "name": "Missing CLI", "command": ["no-such-agent-cli", "{prompt}"], "output": "text"})
    assert response.status_code == 201
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="crash", prompt="@crash")
    await hub.create_node(pid, id="garbage", prompt="@garbage")
    await hub.create_node(pid, id="ghost", prompt="hello", agent="ghost")
    await hub.create_node(pid, id="sibling", prompt="fine")
    run = await hub.wait_run(await hub.launch(pid))
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["sibling"]["status"] == "succeeded"
    assert by_node["crash"]["status"] == "failed"
    assert by_node["crash"]["exit_code"] == 3
    assert by_node["ghost"]["status"] == "failed"
    assert by_node["ghost"]["error"] == "no-such-agent-cli: executable not found on PATH"
    ghost_errors = outputs(await hub.events(by_node["ghost"]["id"]), "error")
    assert [e["message"] for e in ghost_errors] == ["no-such-agent-cli: executable not found on PATH"]
    garbage = await hub.events(by_node["garbage"]["id"])
    raws = outputs(garbage, "raw")
    assert len(raws) >= 3  # a non-JSON line, binary garbage, a 5 MB line (cut), an unknown type
    assert any(r.get("truncated", 0) >= 5_000_000 for r in raws)
    assert len(max((r["line"] for r in raws), key=len)) <= 64 * 1024
    # the transcript around the garbage still parsed: the garbage run itself succeeds
    assert by_node["garbage"]["status"] == "succeeded"


async def test_error_results_fail_even_with_exit_code_zero(hub: LiveHub, agents: FakeAgents) -> None:
    agents.install("gemini", "gemini-midstream.jsonl")  # exits 0 with result.status "error"
    agents.install("claude", "claude-http401.jsonl")  # exits 1 with subtype "success", is_error true
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="gem", agent="gemini")
    await hub.create_node(pid, id="cla", agent="claude-code")
    run = await hub.wait_run(await hub.launch(pid))
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["gem"]["status"] == "failed"
    assert by_node["gem"]["exit_code"] == 0
    assert "Model stream ended without a finish reason" in by_node["gem"]["error"]
    assert by_node["cla"]["status"] == "failed"
    assert "Invalid API key" in by_node["cla"]["error"]


async def test_claude_root_refusal_says_what_to_do(hub: LiveHub, agents: FakeAgents) -> None:
    agents.install("claude", "claude-root-refusal.jsonl")
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a")
    run = await hub.wait_run(await hub.launch(pid))
    (execution,) = run["executions"]
    assert execution["status"] == "failed"
    assert "cannot be used with root" in execution["stderr"]
    messages = [e["message"] for e in outputs(await hub.events(execution["id"]), "error")]
    assert any("ordinary" in m and "user" in m for m in messages), messages


async def test_agent_gets_workspace_argv_and_no_token(hub: LiveHub, agents: FakeAgents) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", prompt="; rm -rf ~ $(id) --flag\n'quoted'", model="m-1")
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded"
    (record,) = agents.recorded()
    assert record["cwd"] == project["workspace"]
    assert record["prompt"] == "; rm -rf ~ $(id) --flag\n'quoted'"
    assert record["argv"] == ["-p", record["prompt"], "--output-format", "stream-json", "--verbose",
                              "--dangerously-skip-permissions", "--model", "m-1"]
    # Of the hub's own variables, only the mark that lets the hub find the agent's processes.
    assert {k: v for k, v in record["env"].items() if k.startswith("ORCHESTRA_")} == {
        "ORCHESTRA_EXECUTION_ID": run["executions"][0]["id"]}
    assert hub.settings.token not in str(record["env"])


async def test_fifty_concurrent_chatty_agents_store_every_line_in_order(hub: LiveHub) -> None:
    pid = (await hub.create_project(max_parallel=50))["id"]
    for i in range(50):
        await hub.create_node(pid, id=f"n{i}", prompt="@lines=1000")
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "succeeded"
    for execution in run["executions"]:
        texts = [o["text"] for o in outputs(await hub.events(execution["id"]), "text")]
        numbered = [t for t in texts if t.startswith("line ")]
        assert numbered == [f"line {i}" for i in range(1, 1001)], execution["node_id"]


async def test_project_max_parallel_is_respected(hub: LiveHub) -> None:
    project = await hub.create_project(max_parallel=2)
    for i in range(6):
        await hub.create_node(project["id"], id=f"n{i}", prompt="@sleep=0.15")
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded"
    assert overlapping(run["executions"]) == 2


async def test_events_tail_returns_the_newest_in_order(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="a", prompt="@lines=100")
    run = await hub.wait_run(await hub.launch(pid))
    execution_id = run["executions"][0]["id"]
    everything = await hub.events(execution_id)
    tail = (await hub.get(f"/executions/{execution_id}/events", params={"tail": 5})).json()
    assert tail["events"] == everything[-5:]
    assert tail["next_after"] is None
    assert everything[-1]["type"] == "execution.finished"
    assert run["executions"][0]["model"] == "claude-sonnet-4-5"  # the CLI's default, as reported


async def test_cancel_right_after_launch_leaves_no_agent_behind(hub: LiveHub) -> None:
    """Cancelling while agents are being spawned and recorded: each is ended all the same (the
    leftover-process fixture checks); this window once leaked an agent on a loaded machine."""
    pid = (await hub.create_project(max_parallel=20))["id"]
    for i in range(20):
        await hub.create_node(pid, id=f"n{i}", prompt="@hang @child")
    for _ in range(3):
        launched = await hub.launch(pid)
        assert (await hub.post(f"/runs/{launched['run_id']}/cancel")).status_code == 202
        run = await hub.wait_run(launched)
        assert run["status"] == "cancelled"
        assert {e["status"] for e in run["executions"]} <= {"cancelled"}


async def test_node_list_follows_every_change_despite_its_cache(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]

    async def ids() -> list[str]:
        response = await hub.get(f"/projects/{pid}/nodes")
        assert response.status_code == 200, response.text
        return [n["id"] for n in response.json()["nodes"]]

    assert await ids() == []
    await hub.create_node(pid, id="a")
    assert await ids() == ["a"]
    await hub.wait_run(await hub.launch(pid))  # agent events do not change the list
    assert await ids() == ["a"]
    await hub.create_node(pid, id="b", depends_on=["a"])
    assert (await hub.patch(f"/projects/{pid}/nodes/b", {"title": "Bee"})).status_code == 200
    nodes = (await hub.get(f"/projects/{pid}/nodes")).json()["nodes"]
    assert [(n["id"], n["title"], n["depends_on"]) for n in nodes] == [("a", "a", []), ("b", "Bee", ["a"])]
    assert (await hub.delete(f"/projects/{pid}/nodes/a")).status_code == 204
    assert await ids() == ["b"]
    assert (await hub.delete(f"/projects/{pid}")).status_code == 204
    gone = await hub.get(f"/projects/{pid}/nodes")
    assert gone.status_code == 404
