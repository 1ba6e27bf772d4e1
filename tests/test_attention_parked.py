"""A parked execution (a usage limit, orchestra/runtime/parking.py) in the attention list with its resume time,
announced on the hub feed and as a notification; resumed now, it leaves the list and the run succeeds."""

from __future__ import annotations

import json
from pathlib import Path

import trio
from conftest import WAIT_S, FakeAgents, make_settings, serving
from test_attention import attention, kinds, wait_attention
from test_hub_feed import hub_url
from test_notifications import Receiver
from test_parking import install_limited, subscription_limit
from trio_websocket import open_websocket_url


async def test_a_parked_execution_is_listed_with_its_resume_time_notified_and_resumed_now(
        tmp_path: Path, agents: FakeAgents, nursery: trio.Nursery) -> None:
    receiver = Receiver()
    await receiver.serve(nursery)
    limited, resets_at = subscription_limit(tmp_path, reset_in_s=3600)
    install_limited(agents, "claude", limited, then="claude-tool.jsonl")
    settings = make_settings(tmp_path, agents, notify=receiver.url(), park_backoff_s=0.5)
    async with serving(settings) as hub, open_websocket_url(hub_url(hub.running.port)) as ws:
        json.loads(await ws.get_message())  # the snapshot
        project = await hub.create_project(name="limited")
        await hub.create_node(project["id"], id="build", title="Build")
        await hub.create_node(project["id"], id="after", depends_on=["build"])
        launched = await hub.launch(project["id"])
        items = await wait_attention(hub, lambda items: "parked" in kinds(items))
        parked = kinds(items)["parked"]
        assert parked["project_name"] == "limited" and parked["node_id"] == "build"
        assert parked["run_id"] == launched["run_id"]
        assert parked["resume_at"] >= resets_at
        added = None
        with trio.fail_after(WAIT_S):
            while added is None:
                message = json.loads(await ws.get_message())
                for event in message if isinstance(message, list) else [message]:
                    if event.get("type") == "attention.changed" and event.get("added", {}).get("kind") == "parked":
                        added = event["added"]
        assert added["execution_id"] == parked["execution_id"]
        await receiver.wait(lambda r: any("parked" in b["title"] for b in r.bodies))
        note = next(b for b in receiver.bodies if "parked" in b["title"])
        assert note["title"] == "⏸ limited: build parked at a usage limit"
        assert "Node: build (Build)" in note["message"] and f"Run: {launched['run_id']}" in note["message"]

        resumed = await hub.post(f"/executions/{parked['execution_id']}/resume")
        assert resumed.status_code in (200, 202), resumed.text
        run = await hub.wait_run(launched)
        assert run["status"] == "succeeded"
        assert "parked" not in kinds(await attention(hub))
