"""The actor runtime end to end: a real hub, real agent subprocesses replaying real transcripts."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import FakeAgents, HubClient


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["output"]["kind"] for e in events if e["type"] == "execution.output"]


def outputs(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["output"] for e in events if e["type"] == "execution.output" and e["output"]["kind"] == kind]


async def fan_out_dag(hub: HubClient, agent: str) -> tuple[str, dict[str, Any]]:
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
    hub: HubClient, agent: str, result: str, session: str, tokens: tuple[int, int], cost: float | None
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
    hub: HubClient, agents: FakeAgents
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


async def test_relaunch_below_a_node_that_never_succeeded_is_refused(hub: HubClient) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="a", prompt="first")
    await hub.create_node(pid, id="b", prompt="second", depends_on=["a"])
    response = await hub.post("/launch", {"project_id": pid, "node_ids": ["b"]})
    assert response.status_code == 409
    assert "'a'" in response.json()["error"]["message"]
    assert (await hub.get("/runs", params={"project_id": pid})).json()["runs"] == []
