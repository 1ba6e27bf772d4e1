"""The terminal client's answers as real subprocesses, run from another directory against a real hub:
``inbox``, ``approve``, ``reject``, ``pick``, ``resume``, ``dismiss``; ``launch --until-done`` prints the
command that answers a waiting gate; bad ids and a second answer are refused with the hub's message and
change nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import trio
from conftest import TOKEN, WAIT_S, FakeAgents, LiveHub
from hubproc import ENTRY
from test_attention import attention, kinds, three_waiting, wait_attention
from test_parking import install_limited, subscription_limit


async def cli(hub: LiveHub, cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(WAIT_S):
        return await trio.run_process([sys.executable, str(ENTRY), *args, "--hub", hub.url, "--token", TOKEN],
                                      capture_stdout=True, capture_stderr=True, check=False, cwd=str(cwd))


def elsewhere(tmp_path: Path) -> Path:
    where = tmp_path / "somewhere" / "else"
    where.mkdir(parents=True)
    return where


async def test_inbox_lists_and_approve_reject_pick_answer_from_another_directory(hub: LiveHub, tmp_path: Path) -> None:
    cwd = elsewhere(tmp_path)
    by_kind = await three_waiting(hub)
    listed = await cli(hub, cwd, "inbox")
    out = listed.stdout.decode()
    assert listed.returncode == 0, listed.stderr.decode()
    for kind, item in by_kind.items():
        assert f"{kind} " in out and item["execution_id"] in out, out
    gate, pick, review = by_kind["gate"], by_kind["pick"], by_kind["plan_review"]
    assert f"orchestra approve {gate['execution_id']}" in out
    assert f"orchestra pick {pick['execution_id']} CANDIDATE_EXECUTION" in out
    candidates = [e for e in (await hub.get("/executions", params={"run_id": pick["run_id"], "node_id": "draft"})
                              ).json()["executions"] if e["candidate"]]
    assert all(c["id"] in out for c in candidates), out

    approved = await cli(hub, cwd, "approve", gate["execution_id"], "--comment", "ship it")
    assert approved.returncode == 0, approved.stderr.decode()
    assert approved.stdout.decode().strip() == f"{gate['execution_id']}: approved (succeeded)"
    picked = await cli(hub, cwd, "pick", pick["execution_id"], candidates[1]["id"])
    assert picked.returncode == 0, picked.stderr.decode()
    rejected = await cli(hub, cwd, "reject", review["execution_id"], "--comment", "too big")
    assert rejected.returncode == 0, rejected.stderr.decode()
    await wait_attention(hub, lambda items: not {"gate", "pick", "plan_review"} & set(kinds(items)))
    assert (await hub.get(f"/executions/{gate['execution_id']}")).json()["result_text"] == "ship it"
    chosen = (await hub.get(f"/executions/{pick['execution_id']}")).json()
    assert chosen["status"] == "succeeded" and candidates[1]["id"] in (chosen["result_text"] or "") + str(chosen)
    review_after = (await hub.get(f"/executions/{review['execution_id']}")).json()
    assert review_after["status"] == "failed" and review_after["error"] == "rejected: too big"


async def test_bad_ids_and_a_second_answer_are_refused_with_the_hubs_message(hub: LiveHub, tmp_path: Path) -> None:
    cwd = elsewhere(tmp_path)
    by_kind = await three_waiting(hub)
    gate = by_kind["gate"]
    assert (await cli(hub, cwd, "approve", gate["execution_id"])).returncode == 0
    answered = await wait_attention(hub, lambda items: "gate" not in kinds(items))
    before = [i for i in answered if i["kind"] != "failed_run"]
    refusals: list[tuple[tuple[str, ...], str]] = [
        (("approve", gate["execution_id"]), f"409 execution '{gate['execution_id']}' is not a gate waiting"),
        (("reject", gate["execution_id"], "--comment", "late"), "409 execution"),
        (("approve", "exe_nope"), "404 execution 'exe_nope' does not exist"),
        (("pick", by_kind["pick"]["execution_id"], "exe_nope"), "422 'candidate' must name one of the candidates"),
        (("pick", "exe_nope", "exe_nope2"), "404 execution 'exe_nope' does not exist"),
    ]
    for args, message in refusals:
        result = await cli(hub, cwd, *args)
        err = result.stderr.decode()
        assert result.returncode == 1, (args, result.stdout.decode(), err)
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    after = [i for i in await attention(hub) if i["kind"] != "failed_run"]
    assert after == before
    for item in after:
        await hub.post(f"/executions/{item['execution_id']}/reject")


async def test_resume_wakes_a_parked_node_and_dismiss_takes_a_failed_run_off_the_inbox(
        hub: LiveHub, agents: FakeAgents, tmp_path: Path) -> None:
    cwd = elsewhere(tmp_path)
    limited, _ = subscription_limit(tmp_path, 3600)
    install_limited(agents, "claude", limited, "claude-tool.jsonl")
    waiting = await hub.create_project(name="limited")
    await hub.create_node(waiting["id"], id="a")
    parked_launch = await hub.launch(waiting["id"])
    parked_id = parked_launch["executions"][0]["id"]
    await hub.wait_execution(parked_id, {"parked"})
    failing = await hub.create_project(name="flaky")
    await hub.create_node(failing["id"], id="boom", prompt="@exit=1")
    failed_run = await hub.wait_run(await hub.launch(failing["id"]))
    items = await wait_attention(hub, lambda items: {"parked", "failed_run"} <= set(kinds(items)))

    listed = await cli(hub, cwd, "inbox")
    out = listed.stdout.decode()
    assert listed.returncode == 0, listed.stderr.decode()
    assert f"now: orchestra resume {parked_id}   |   cancel: orchestra cancel {parked_id}" in out, out
    assert f"orchestra dismiss {failed_run['id']}" in out, out

    refusals: list[tuple[tuple[str, ...], str]] = [
        (("resume", "exe_nope"), "404 execution 'exe_nope' does not exist"),
        (("resume", failed_run["executions"][0]["id"]), "409 "),
        (("dismiss", "run_nope"), "404 run 'run_nope' does not exist"),
        (("dismiss", parked_launch["run_id"]), f"409 run '{parked_launch['run_id']}' has not finished"),
    ]
    for args, message in refusals:
        result = await cli(hub, cwd, *args)
        err = result.stderr.decode()
        assert result.returncode == 1 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert await attention(hub) == items  # nothing changed

    resumed = await cli(hub, cwd, "resume", parked_id)
    assert (resumed.returncode, resumed.stdout.decode().strip()) == (0, f"{parked_id}: resuming"), resumed
    assert (await hub.wait_run(parked_launch))["status"] == "succeeded"
    dismissed = await cli(hub, cwd, "dismiss", failed_run["id"])
    assert (dismissed.returncode, dismissed.stdout.decode().strip()) == (0, f"{failed_run['id']}: dismissed")
    await wait_attention(hub, lambda items: items == [])
    assert (await hub.get(f"/runs/{failed_run['id']}")).json()["seen_at"] is not None


async def test_launch_until_done_prints_the_command_that_answers_a_waiting_gate(hub: LiveHub, tmp_path: Path) -> None:
    cwd = elsewhere(tmp_path)
    project = await hub.create_project(name="gated-cli")
    await hub.create_node(project["id"], id="review", kind="gate", agent=None, title="Review")
    await hub.create_node(project["id"], id="after", depends_on=["review"])
    results: list[subprocess.CompletedProcess[bytes]] = []
    async with trio.open_nursery() as nursery:
        async def launch() -> None:
            results.append(await cli(hub, cwd, "launch", "gated-cli", "--until-done"))

        nursery.start_soon(launch)
        items: list[dict[str, Any]] = await wait_attention(hub, lambda items: "gate" in kinds(items))
        gate = kinds(items)["gate"]
        assert (await cli(hub, cwd, "approve", gate["execution_id"])).returncode == 0
    out = results[0].stdout.decode()
    assert results[0].returncode == 0, (out, results[0].stderr.decode())
    assert f"[review] waiting for a decision: orchestra approve {gate['execution_id']} [--comment TEXT]" in out, out
    assert out.index("waiting for a decision") < out.index("[after] succeeded")


def test_the_pick_hint_lists_the_candidates_that_succeeded() -> None:
    from orchestra.clients.answer_hints import HintTracker

    tracker = HintTracker()
    tracker.snapshot([{"id": "draft", "kind": "agent", "candidates": 2}, {"id": "plan", "kind": "plan"}])

    def event(node: str, execution: dict[str, Any]) -> dict[str, Any]:
        return {"type": "execution.finished", "node_id": node, "execution": execution}

    assert tracker.hint(event("draft", {"id": "exe_a", "candidate": 1, "status": "succeeded"})) is None
    assert tracker.hint(event("draft", {"id": "exe_b", "candidate": 2, "status": "failed"})) is None
    hint = tracker.hint({"type": "execution.started", "node_id": "draft",
                         "execution": {"id": "exe_pick", "candidate": None, "status": "waiting"}})
    assert hint == ("waiting for a pick: orchestra pick exe_pick CANDIDATE_EXECUTION (candidates that succeeded: "
                    "exe_a); or orchestra reject exe_pick --comment TEXT")
    review = tracker.hint({"type": "execution.started", "node_id": "plan",
                           "execution": {"id": "exe_r", "status": "waiting"}})
    assert review == ("waiting for a plan review: orchestra approve exe_r [--comment TEXT]; "
                      "or orchestra reject exe_r [--comment TEXT]")
