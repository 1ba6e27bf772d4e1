"""The attention list (GET /attention) against a real hub: waiting gates, candidate picks and plan reviews of
every project, failed runs until they are marked seen; its live feed (attention.changed on /ws/hub); and
the refusals (bad ids, a second answer) that change nothing."""

from __future__ import annotations

import json
from typing import Any

import trio
from conftest import WAIT_S, LiveHub
from test_git_checkpoints import git_project
from test_hub_feed import hub_url
from test_plans import answer, task
from trio_websocket import open_websocket_url


async def attention(hub: LiveHub, **params: str) -> list[dict[str, Any]]:
    response = await hub.get("/attention", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def wait_attention(hub: LiveHub, predicate: Any) -> list[dict[str, Any]]:
    """Wait on the hub feed's events until the attention list satisfies ``predicate``."""
    from orchestra.storage.events import HUB_STREAM

    with hub.running.hub.bus.subscribe(HUB_STREAM, max_pending=10**9) as subscription, trio.fail_after(WAIT_S):
        while True:
            items = await attention(hub)
            if predicate(items):
                return items
            await subscription.next_batch(10_000)


def kinds(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["kind"]: item for item in items}


async def three_waiting(hub: LiveHub) -> dict[str, dict[str, Any]]:
    """Three projects, each waiting for a person: a gate, a best-of-2 pick, a plan's review."""
    gated = await hub.create_project(name="gated")
    await hub.create_node(gated["id"], id="review", kind="gate", agent=None, title="Human review")
    await hub.create_node(gated["id"], id="ship", depends_on=["review"])
    picked, _ = await git_project(hub)
    await hub.create_node(picked["id"], id="draft", prompt="@write=draft.txt:draft", candidates=2)
    planned = await hub.create_project(name="planned")
    await hub.create_node(planned["id"], id="plan", kind="plan", review_plan=True, prompt=answer(task("a")))
    for project in (gated, picked, planned):
        await hub.launch(project["id"])
    items = await wait_attention(hub, lambda items: len(items) == 3)
    return kinds(items)


async def test_waiting_gates_picks_and_reviews_of_every_project_are_listed_and_leave_when_answered(
        hub: LiveHub) -> None:
    async with open_websocket_url(hub_url(hub.running.port)) as ws:
        snapshot = json.loads(await ws.get_message())
        by_kind = await three_waiting(hub)
        assert set(by_kind) == {"gate", "pick", "plan_review"}
        gate = by_kind["gate"]
        assert gate["project_name"] == "gated" and gate["node_id"] == "review"
        assert gate["node_title"] == "Human review"
        assert gate["execution_id"].startswith("exe_") and gate["run_id"].startswith("run_")
        assert isinstance(gate["since"], float)
        # The live feed said the same, in the hub feed's order.
        added: list[dict[str, Any]] = []
        with trio.fail_after(WAIT_S):
            while len(added) < 3:
                message = json.loads(await ws.get_message())
                for event in message if isinstance(message, list) else [message]:
                    if event.get("type") == "attention.changed" and "added" in event:
                        assert event["seq"] > snapshot["seq"]
                        added.append(event["added"])
        assert {item["execution_id"] for item in added} == {item["execution_id"] for item in by_kind.values()}

        # Scoped to one project.
        only = await attention(hub, project_id=gate["project_id"])
        assert [item["kind"] for item in only] == ["gate"]

        # Answered: it leaves the list, and the feed says so.
        response = await hub.post(f"/executions/{gate['execution_id']}/approve", {"comment": "go"})
        assert response.status_code == 200, response.text
        items = await wait_attention(hub, lambda items: "gate" not in kinds(items))
        assert set(kinds(items)) == {"pick", "plan_review"}
        with trio.fail_after(WAIT_S):
            removed = None
            while removed is None:
                message = json.loads(await ws.get_message())
                for event in message if isinstance(message, list) else [message]:
                    if event.get("type") == "attention.changed" and "removed" in event:
                        removed = event["removed"]
        assert removed["execution_id"] == gate["execution_id"]
        for item in items:
            assert (await hub.post(f"/executions/{item['execution_id']}/reject", {"comment": "no"})).status_code == 200


async def test_a_second_answer_and_bad_ids_are_refused_and_change_nothing(hub: LiveHub) -> None:
    by_kind = await three_waiting(hub)
    gate = by_kind["gate"]
    assert (await hub.post(f"/executions/{gate['execution_id']}/reject", {"comment": "no"})).status_code == 200
    await wait_attention(hub, lambda items: "gate" not in kinds(items))
    before = await attention(hub)
    again = await hub.post(f"/executions/{gate['execution_id']}/approve")
    assert again.status_code == 409
    refusal = f"execution '{gate['execution_id']}' is not a gate waiting for a decision"
    assert again.json()["error"]["message"] == refusal
    missing = await hub.post("/executions/exe_nope/approve")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": "not_found", "message": "execution 'exe_nope' does not exist",
                                       "details": None}
    assert (await hub.get("/attention", params={"project_id": "prj_nope"})).status_code == 404
    after = await attention(hub)
    # The rejected gate failed its run: that run is now in the list; nothing else changed.
    assert [i for i in after if i["kind"] != "failed_run"] == [i for i in before if i["kind"] != "failed_run"]
    for item in before:
        if item["kind"] != "failed_run":
            await hub.post(f"/executions/{item['execution_id']}/reject")


async def test_a_failed_run_is_listed_until_it_is_marked_seen(hub: LiveHub) -> None:
    project = await hub.create_project(name="flaky")
    pid = project["id"]
    await hub.create_node(pid, id="boom", prompt="@exit=1")
    run = await hub.wait_run(await hub.launch(pid))
    assert run["status"] == "failed"
    items = await wait_attention(hub, lambda items: any(i["kind"] == "failed_run" for i in items))
    failed = kinds(items)["failed_run"]
    assert failed["run_id"] == run["id"] and failed["project_id"] == pid and failed["node_id"] == "boom"
    assert failed["execution_id"] == run["executions"][0]["id"]
    assert failed["error"]
    # Refusals: an unknown run, a run still going (none here), change nothing.
    assert (await hub.post("/runs/run_nope/seen")).status_code == 404
    assert await attention(hub) == items
    seen = await hub.post(f"/runs/{run['id']}/seen")
    assert seen.status_code == 200 and seen.json()["run_id"] == run["id"]
    assert (await attention(hub)) == []
    again = await hub.post(f"/runs/{run['id']}/seen")  # seeing it twice keeps the first time
    assert again.json()["seen_at"] == seen.json()["seen_at"]
    assert (await hub.get(f"/runs/{run['id']}")).json()["seen_at"] == seen.json()["seen_at"]


async def test_a_later_success_of_the_same_project_takes_an_older_failure_off_the_list(hub: LiveHub) -> None:
    project = await hub.create_project(name="recovers")
    pid = project["id"]
    node = await hub.create_node(pid, id="n", prompt="@exit=1")
    await hub.wait_run(await hub.launch(pid))
    assert [i["kind"] for i in await attention(hub)] == ["failed_run"]
    await hub.patch(f"/projects/{pid}/nodes/{node['id']}", {"prompt": "fine"})
    assert (await hub.wait_run(await hub.launch(pid)))["status"] == "succeeded"
    assert await attention(hub) == []
