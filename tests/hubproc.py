"""A hub running as a real ``python orchestra.py`` subprocess, for tests that signal or kill it: the
shared helper (benchmarks/hub_subprocess.py, which the benchmarks use too) and what only tests need."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

from benchmarks.hub_subprocess import ENTRY, HubProcess, hub_env, hub_process

__all__ = ["ENTRY", "HubProcess", "hub_env", "hub_process", "stop_while_waiting", "wait_for_event"]


async def wait_for_event(hub: HubProcess, project_id: str, predicate: Callable[[dict[str, Any]], bool],
                         within: float = 30, since: int = 0) -> dict[str, Any]:
    """Replay the project's events after seq ``since`` (from the start by default), then follow them,
    until one matches."""
    async with open_websocket_url(hub.ws_url(project_id, since)) as ws:
        with trio.fail_after(within):
            while True:
                message = json.loads(await ws.get_message())
                for event in message if isinstance(message, list) else [message]:
                    if predicate(event):
                        return event


async def stop_while_waiting(hub: HubProcess, http: httpx.AsyncClient,
                             project_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Launch the project, wait until an execution waits for a person, then stop the hub (SIGTERM):
    the launch's answer and the waiting execution's ``execution.started`` event."""
    launched: dict[str, Any] = (await http.post("/launch", json={"project_id": project_id})).json()
    waiting = await wait_for_event(hub, project_id, lambda e: e["type"] == "execution.started"
                                   and e["execution"]["status"] == "waiting")
    hub.process.send_signal(signal.SIGTERM)
    await hub.process.wait()
    return launched, waiting
