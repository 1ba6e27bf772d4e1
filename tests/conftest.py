"""Shared fixtures: a real hub (hypercorn on a free loopback port, a real SQLite file), fake agent
CLIs that replay real transcripts, and a check that no test leaves an agent process behind."""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from fake_agent import install

from benchmarks.procfs import alive, processes_mentioning
from orchestra.core.settings import Settings, load_settings
from orchestra.server import Running, serve
from orchestra.storage.events import Subscription

FIXTURES = Path(__file__).parent / "fixtures" / "agent-transcripts"
TOKEN = "test-token-0123456789abcdef"
WAIT_S = 30
FINAL_RUN = {"succeeded", "failed", "cancelled"}


@dataclass
class FakeAgents:
    bin_dir: Path
    records: Path

    def install(self, name: str, transcript: str) -> Path:
        return install(self.bin_dir, name, FIXTURES / transcript, self.records)

    def recorded(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.records.glob("*.json"))]


@pytest.fixture
def agents(tmp_path: Path) -> FakeAgents:
    bin_dir = tmp_path / "bin"
    records = tmp_path / "records"
    bin_dir.mkdir()
    records.mkdir()
    fakes = FakeAgents(bin_dir, records)
    fakes.install("claude", "claude-tool.jsonl")
    fakes.install("codex", "codex-tool.jsonl")
    fakes.install("gemini", "gemini-tool.jsonl")
    return fakes


def make_settings(tmp_path: Path, agents: FakeAgents, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'orchestra.db'}",
        "workspaces": tmp_path / "workspaces",
        "host": "127.0.0.1",
        "port": 0,
        "token": TOKEN,
        "kill_grace_s": 2.0,
        "claude_bin": str(agents.bin_dir / "claude"),
        "codex_bin": str(agents.bin_dir / "codex"),
        "gemini_bin": str(agents.bin_dir / "gemini"),
        # Fake agents record what they were given under tmp_path, which the sandbox hides: tests that
        # are about the sandbox turn it on (tests/test_sandbox.py); ORCHESTRA_TEST_SANDBOX=bwrap runs all.
        "sandbox": os.environ.get("ORCHESTRA_TEST_SANDBOX", "off"),
    }
    return load_settings(**(values | overrides))


@pytest.fixture
def settings(tmp_path: Path, agents: FakeAgents) -> Settings:
    return make_settings(tmp_path, agents)


@dataclass
class LiveHub:
    """A hub running inside the test's process (hypercorn on a loopback port, a real SQLite file) and an
    HTTP client that talks to it as a real client does."""

    running: Running
    http: httpx.AsyncClient
    settings: Settings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.running.port}"

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(path, json=json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.patch(path, json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.delete(path, **kw)

    async def create_project(self, **fields: Any) -> dict[str, Any]:
        response = await self.post("/projects", {"name": "test project"} | fields)
        assert response.status_code == 201, response.text
        return response.json()

    async def create_node(self, project_id: str, **fields: Any) -> dict[str, Any]:
        body = {"title": fields.get("id", "node"), "prompt": "do it", "agent": "claude-code"} | fields
        response = await self.post(f"/projects/{project_id}/nodes", body)
        assert response.status_code == 201, response.text
        return response.json()

    async def refuse_node(self, project_id: str, fields: dict[str, Any], field: str) -> dict[str, Any]:
        """Create a node with bad ``fields`` (None drops a default) and check the 422 names ``field``."""
        body = {k: v for k, v in ({"title": "t", "prompt": "p", "agent": "claude-code"} | fields).items()
                if v is not None}
        response = await self.post(f"/projects/{project_id}/nodes", body)
        assert response.status_code == 422, (fields, response.text)
        error: dict[str, Any] = response.json()["error"]
        assert error["code"] == "validation_error", (fields, error)
        assert f"'{field}'" in error["message"] or (error["details"] or {}).get("field") == field, (fields, error)
        return error

    async def launch(self, project_id: str, node_ids: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"project_id": project_id}
        if node_ids is not None:
            body["node_ids"] = node_ids
        response = await self.post("/launch", body)
        assert response.status_code == 202, response.text
        return response.json()

    async def wait_for(self, project_id: str, predicate: Any, read: Any) -> Any:
        """Wait, on the hub's own event bus, until ``predicate(await read())`` holds (or fail)."""
        with self.running.hub.bus.subscribe(project_id, max_pending=math.inf) as subscription, \
                trio.fail_after(WAIT_S):
            while True:
                value = await read()
                if predicate(value):
                    return value
                await _next_event(subscription)

    async def wait_run(self, run: dict[str, Any] | str) -> dict[str, Any]:
        run_id = run if isinstance(run, str) else run["run_id"]
        first = (await self.get(f"/runs/{run_id}")).json()

        async def read() -> dict[str, Any]:
            return (await self.get(f"/runs/{run_id}")).json()

        return await self.wait_for(first["project_id"], lambda r: r["status"] in FINAL_RUN, read)

    async def wait_execution(self, execution_id: str, statuses: set[str]) -> dict[str, Any]:
        first = (await self.get(f"/executions/{execution_id}")).json()

        async def read() -> dict[str, Any]:
            return (await self.get(f"/executions/{execution_id}")).json()

        return await self.wait_for(first["project_id"], lambda e: e["status"] in statuses, read)

    async def events(self, execution_id: str) -> list[dict[str, Any]]:
        response = await self.get(f"/executions/{execution_id}/events", params={"limit": 10_000})
        assert response.status_code == 200, response.text
        return response.json()["events"]


async def _next_event(subscription: Subscription) -> None:
    await subscription.next_batch(10_000)


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[LiveHub]:
    """A hub on ``settings`` for the length of the block (a test may start several, or restart one)."""
    async with trio.open_nursery() as nursery:
        running: Running = await nursery.start(partial(serve, settings, handle_signals=False))
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{running.port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=WAIT_S,
        ) as http:
            yield LiveHub(running, http, settings)
        running.stop.set()


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[LiveHub]:
    async with serving(settings) as live:
        yield live


@pytest.fixture(autouse=True)
def no_leftover_agents(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves a process started from its temporary directory (a fake agent)."""
    yield
    left = processes_mentioning(str(tmp_path))
    for record in (tmp_path / "records").glob("*.json") if (tmp_path / "records").is_dir() else ():
        recorded = json.loads(record.read_text())
        for child in (recorded.get("child_pid"), recorded.get("setsid_child_pid")):
            if child and alive(child):
                left.append(child)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not left, f"processes left behind by the test: {left}"
