"""A hub running as a real ``python orchestra.py`` subprocess, for tests that signal or kill it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import open_websocket_url

ENTRY = Path(__file__).resolve().parents[1] / "orchestra.py"
_LISTENING = re.compile(rb"orchestra listening on http://[^:]+:(\d+)")


@dataclass
class HubProcess:
    process: trio.Process
    port: int
    token: str
    log: bytearray = field(default_factory=bytearray)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)


def hub_env(tmp_path: Path, token: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    env |= {
        "ORCHESTRA_DATABASE_URL": f"sqlite:///{tmp_path / 'orchestra.db'}",
        "ORCHESTRA_WORKSPACES": str(tmp_path / "workspaces"),
        "ORCHESTRA_PORT": "0",
        "ORCHESTRA_TOKEN": token,
        "ORCHESTRA_KILL_GRACE_S": "2",
    }
    return env | extra


@asynccontextmanager
async def hub_process(env: dict[str, str], ready_within: float = 30) -> AsyncIterator[HubProcess]:
    """Start the hub, wait for its 'listening' log line (no polling), and kill it on the way out."""
    process = await trio.lowlevel.open_process(
        [sys.executable, str(ENTRY)], env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    log = bytearray()
    try:
        with trio.fail_after(ready_within):
            while not (match := _LISTENING.search(log)):
                chunk = await process.stderr.receive_some(4096)
                if not chunk:
                    raise RuntimeError(f"the hub exited before listening:\n{log.decode(errors='replace')}")
                log += chunk
        hub = HubProcess(process, int(match.group(1)), env["ORCHESTRA_TOKEN"], log)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain, process, hub.log)
            yield hub
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.terminate()  # a graceful stop ends the hub's agents and checks too
                with trio.move_on_after(15):
                    await process.wait()
            if process.returncode is None:
                process.kill()
            await process.wait()


async def wait_for_event(hub: HubProcess, project_id: str, predicate: Callable[[dict[str, Any]], bool],
                         within: float = 30, since: int = 0) -> dict[str, Any]:
    """Replay the project's events after seq ``since`` (from the start by default), then follow them,
    until one matches."""
    url = f"ws://127.0.0.1:{hub.port}/ws/subscribe/{project_id}?token={hub.token}&since={since}"
    async with open_websocket_url(url) as ws:
        with trio.fail_after(within):
            while True:
                message = json.loads(await ws.get_message())
                for event in message if isinstance(message, list) else [message]:
                    if predicate(event):
                        return event


async def _drain(process: trio.Process, log: bytearray) -> None:
    assert process.stderr is not None
    while chunk := await process.stderr.receive_some(65536):
        log += chunk
