"""The database's storage fails under a running hub: the disk fills up, another process locks the file.

The hub stays up and says so (503 ``storage_unavailable``) to API writes, nothing half-written lands,
reads still work, the running agents are held back instead of failed, and once the storage is back
the hub carries on by itself: the held output lands in full, the executions finish with their true
story, and writes are accepted again.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import TOKEN, FakeAgents
from hubproc import HubProcess, hub_env, hub_process, wait_for_event

from benchmarks import procfs

TMPFS_SIZE = "64m"  # room for everything once the filler is gone
FULL_LINES = 3000  # per agent in the full-disk test: more than the pipe and the hub's buffers hold
FULL_DELAY_S = 0.002
LOCK_HOLD_S = 8.0  # longer than the writer's busy wait: the hub has to notice and answer 503
LOCK_LINES = 2000
LOCK_DELAY_S = 0.001
ANSWER_WITHIN_S = 10.0  # an API write during an outage answers within this long
OUTAGE_NOTICED_WITHIN_S = 30.0
FINISH_WITHIN_S = 60.0


def _env(tmp_path: Path, agents: FakeAgents, **extra: str) -> dict[str, str]:
    return hub_env(tmp_path, TOKEN, ORCHESTRA_MAX_PARALLEL="4",
                   ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"),
                   ORCHESTRA_CODEX_BIN=str(agents.bin_dir / "codex"),
                   ORCHESTRA_GEMINI_BIN=str(agents.bin_dir / "gemini"), **extra)


# -- a full disk ------------------------------------------------------------------------------------


@contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("cannot mount a tmpfs: not root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {(mounted.stderr or mounted.stdout).strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _fill(path: Path) -> int:
    """Write ``path`` until the file system has no byte left; return how many were written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += n
                if n < size:
                    break
    finally:
        os.close(fd)
    return written


async def test_a_full_disk_holds_the_agents_back_answers_503_and_recovers_by_itself(
    tmp_path: Path, agents: FakeAgents
) -> None:
    with _tmpfs(tmp_path / "disk", TMPFS_SIZE) as disk:
        db_path = disk / "orchestra.db"
        env = _env(tmp_path, agents, ORCHESTRA_DATABASE_URL=f"sqlite:///{db_path}")
        async with hub_process(env) as hub, hub.http() as http:
            await _full_disk_story(hub, http, disk, tmp_path)
        _assert_sound(db_path)


async def _full_disk_story(hub: HubProcess, http: httpx.AsyncClient, disk: Path, tmp_path: Path) -> None:
    prompt = f"@lines={FULL_LINES} @delay={FULL_DELAY_S}"
    project = await _created(http, "/projects", {"name": "before the fill"})
    pid = project["id"]
    await _created(http, f"/projects/{pid}/nodes", {"id": "a", "title": "A", "prompt": prompt, "agent": "claude-code"})
    await _created(http, f"/projects/{pid}/nodes", {"id": "b", "title": "B", "prompt": prompt, "agent": "codex"})
    await _created(http, f"/projects/{pid}/nodes", {"id": "after", "title": "After", "prompt": "@lines=3",
                                                    "agent": "gemini", "depends_on": ["a", "b"]})
    spare = await _created(http, "/projects", {"name": "spare"})
    await _created(http, f"/projects/{spare['id']}/nodes", {"id": "s", "title": "S", "prompt": "x",
                                                            "agent": "claude-code"})
    launched = (await http.post("/launch", json={"project_id": pid}))
    assert launched.status_code == 202, launched.text
    run = launched.json()
    streaming = {e["node_id"]: e["id"] for e in run["executions"] if e["node_id"] in ("a", "b")}
    for execution_id in streaming.values():
        await wait_for_event(hub, pid, lambda e, x=execution_id: e.get("execution_id") == x
                             and (e.get("output") or {}).get("text") == "line 10")

    filled = await trio.to_thread.run_sync(_fill, disk / "filler")
    assert filled > 0

    # Until the hub meets the full disk, writes may still land (SQLite reuses its WAL's space); each
    # that is accepted must stay, each that is refused must leave nothing.
    accepted, refused = [], []
    with trio.fail_after(OUTAGE_NOTICED_WITHIN_S):
        while True:
            name = f"probe {len(accepted) + 1}"
            with trio.fail_after(ANSWER_WITHIN_S):
                response = await http.post("/projects", json={"name": name})
            if response.status_code != 201:
                refused.append(name)
                break
            accepted.append(name)
            await trio.sleep(0.05)  # a bounded poll of the hub's answer while the agents write
    print(f"filled the disk with {filled:,} bytes; {len(accepted)} write(s) still landed before the first refusal")
    _assert_storage_unavailable(response, "database or disk is full", hub)

    with trio.fail_after(ANSWER_WITHIN_S):
        node = await http.post(f"/projects/{pid}/nodes", json={"id": "late", "title": "Late", "prompt": "x",
                                                                 "agent": "codex"})
    _assert_storage_unavailable(node, "database or disk is full", hub)
    with trio.fail_after(ANSWER_WITHIN_S):
        relaunch = await http.post("/launch", json={"project_id": spare["id"]})
    _assert_storage_unavailable(relaunch, "database or disk is full", hub)
    with trio.fail_after(ANSWER_WITHIN_S):
        another = await http.post("/projects", json={"name": "refused too"})
    _assert_storage_unavailable(another, "database or disk is full", hub)
    refused.append("refused too")

    # The hub is up, reads work, and the agents are held back by their pipes, not failed.
    assert (await http.get("/health")).status_code == 200
    listed = await http.get("/projects")
    assert listed.status_code == 200, listed.text
    assert {"before the fill", "spare"} <= {p["name"] for p in listed.json()["projects"]}
    for node_id, execution_id in streaming.items():
        execution = (await http.get(f"/executions/{execution_id}")).json()
        assert execution["status"] == "running", (node_id, execution)
        await _wait_blocked_on_its_pipe(execution["pid"], node_id)

    os.unlink(disk / "filler")

    finished = await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished" and e["run_id"] == run["run_id"],
                                    within=FINISH_WITHIN_S)
    executions = {e["node_id"]: e for e in (await http.get(f"/runs/{run['run_id']}")).json()["executions"]}
    for node_id in ("a", "b", "after"):
        assert executions[node_id]["status"] == "succeeded", (node_id, executions[node_id], hub.log.decode()[-3000:])
        assert executions[node_id]["error"] is None
    assert finished["run"]["status"] == "succeeded", finished
    for node_id, execution_id in streaming.items():
        texts = await _texts(http, execution_id)
        assert texts == [f"line {i}" for i in range(1, FULL_LINES + 1)], (
            f"{node_id}: {len(texts)} line(s) stored; first missing: "
            f"{next((i for i in range(1, FULL_LINES + 1) if f'line {i}' not in set(texts)), None)}")

    after = await http.post("/projects", json={"name": "after the fill"})
    assert after.status_code == 201, after.text
    names = [p["name"] for p in (await http.get("/projects")).json()["projects"]]
    for name in ["before the fill", "spare", *accepted, "after the fill"]:
        assert names.count(name) == 1, (name, names)
    for name in refused:
        assert name not in names, f"refused write {name!r} landed anyway"
    nodes = [n["id"] for n in (await http.get(f"/projects/{pid}/nodes")).json()["nodes"]]
    assert sorted(nodes) == ["a", "after", "b"]
    spare_runs = (await http.get(f"/runs?project_id={spare['id']}")).json()["runs"]
    assert spare_runs == [], "the refused launch left a run behind"


# -- a database locked by another process ---------------------------------------------------------


async def test_a_database_locked_by_another_process_answers_503_and_loses_nothing(
    tmp_path: Path, agents: FakeAgents
) -> None:
    db_path = tmp_path / "orchestra.db"
    env = _env(tmp_path, agents)
    prompt = f"@lines={LOCK_LINES} @delay={LOCK_DELAY_S}"
    async with hub_process(env) as hub, hub.http() as http:
        project = await _created(http, "/projects", {"name": "locked out"})
        pid = project["id"]
        await _created(http, f"/projects/{pid}/nodes", {"id": "a", "title": "A", "prompt": prompt,
                                                        "agent": "claude-code"})
        await _created(http, f"/projects/{pid}/nodes", {"id": "b", "title": "B", "prompt": prompt, "agent": "codex"})
        launched = await http.post("/launch", json={"project_id": pid})
        assert launched.status_code == 202, launched.text
        run = launched.json()
        streaming = {e["node_id"]: e["id"] for e in run["executions"]}
        for execution_id in streaming.values():
            await wait_for_event(hub, pid, lambda e, x=execution_id: e.get("execution_id") == x
                                 and (e.get("output") or {}).get("text") == "line 10")

        lock = _Lock(db_path)
        await trio.to_thread.run_sync(lock.take)
        locked_at = trio.current_time()

        async def release_in_time() -> None:
            with trio.CancelScope(shield=True):
                await trio.sleep_until(locked_at + LOCK_HOLD_S)  # the lock's duration is the input here
                await trio.to_thread.run_sync(lock.release)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(release_in_time)
            with trio.move_on_after(ANSWER_WITHIN_S):
                response = await http.post("/projects", json={"name": "while locked"})
            answered_after = trio.current_time() - locked_at
            print(f"a write during the lock was answered after {answered_after:.1f} s")
            assert answered_after < ANSWER_WITHIN_S, (
                f"a write during the lock got no answer within {ANSWER_WITHIN_S:g} s\n{_log_tail(hub)}")
            _assert_storage_unavailable(response, r"busy|locked", hub,
                                        f" (answered after {answered_after:.1f} s; lock held for {LOCK_HOLD_S:g} s)")
            assert lock.held, "the lock was released before the hub answered: the test's timing is off"
            assert (await http.get("/health")).status_code == 200
            listed = await http.get("/projects")
            assert listed.status_code == 200, listed.text
            assert [p["name"] for p in listed.json()["projects"]] == ["locked out"]
            for node_id, execution_id in streaming.items():
                execution = (await http.get(f"/executions/{execution_id}")).json()
                assert execution["status"] == "running", (node_id, execution)
            assert lock.held, "the lock was released before the checks ran: the test's timing is off"

        finished = await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished", within=FINISH_WITHIN_S)
        assert finished["run"]["status"] == "succeeded", (finished, hub.log.decode()[-3000:])
        for node_id, execution_id in streaming.items():
            execution = (await http.get(f"/executions/{execution_id}")).json()
            assert execution["status"] == "succeeded", (node_id, execution)
            texts = await _texts(http, execution_id)
            assert texts == [f"line {i}" for i in range(1, LOCK_LINES + 1)], (
                f"{node_id}: {len(texts)} line(s) stored of {LOCK_LINES}")
        after = await http.post("/projects", json={"name": "after the lock"})
        assert after.status_code == 201, after.text
        names = sorted(p["name"] for p in (await http.get("/projects")).json()["projects"])
        assert names == ["after the lock", "locked out"], "the refused write landed anyway"
        _assert_sound(db_path)


class _Lock:
    """An exclusive SQLite transaction of another connection (the test's own), as a second process
    writing to the database would hold it."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.held = False
        self._mutex = threading.Lock()

    def take(self) -> None:
        with self._mutex:
            self.conn.execute("BEGIN EXCLUSIVE")
            self.held = self.conn.in_transaction

    def release(self) -> None:
        with self._mutex:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.held = False
            self.conn.close()


# -- helpers ---------------------------------------------------------------------------------------


async def _created(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _assert_storage_unavailable(response: httpx.Response, message: str, hub: HubProcess, context: str = "") -> None:
    assert response.status_code == 503, (
        f"expected 503 storage_unavailable, got {response.status_code}{context}: {response.text[:2000]}\n"
        "the hub's log:\n" + _log_tail(hub))
    error = response.json()["error"]
    assert error["code"] == "storage_unavailable", error
    assert re.search(message, error["message"], re.IGNORECASE), error
    assert "details" in error


def _log_tail(hub: HubProcess, lines: int = 25) -> str:
    return "\n".join(line[:600] for line in hub.log.decode(errors="replace").splitlines()[-lines:])


async def _texts(http: httpx.AsyncClient, execution_id: str) -> list[str]:
    """The text outputs of an execution, in seq order, from every page of its events."""
    texts: list[str] = []
    after: int | None = 0
    while after is not None:
        response = await http.get(f"/executions/{execution_id}/events", params={"after": after, "limit": 10_000})
        assert response.status_code == 200, response.text
        page = response.json()
        texts += [e["output"]["text"] for e in page["events"]
                  if e["type"] == "execution.output" and e["output"].get("kind") == "text"
                  and e["output"]["text"].startswith("line ")]
        after = page["next_after"]
    return texts


async def _wait_blocked_on_its_pipe(pid: int, node_id: str) -> None:
    """Wait until the agent is blocked writing to its stdout: the hub stopped reading it (a bounded
    poll of /proc: no event says so). Skipped where the kernel hides wchan."""
    seen: set[str] = set()
    with trio.move_on_after(ANSWER_WITHIN_S * 2):
        while True:
            wchan = procfs.wchan(pid)
            assert wchan is not None, f"agent {node_id} (pid {pid}) is gone while the disk is full"
            seen.add(wchan)
            if "pipe_write" in wchan:
                return
            await trio.sleep(0.05)
    if seen <= {"0", ""}:
        return  # wchan is not shown here: the final checks still prove nothing was lost
    raise AssertionError(f"agent {node_id} (pid {pid}) never blocked on its pipe; it was in {sorted(seen)}")


def _assert_sound(db_path: Path) -> None:
    """Once the hub has stopped: the file is intact, every project's seqs are 1..n, every execution
    succeeded (none was failed or interrupted by the outage)."""
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for (project_id,) in db.execute("SELECT id FROM projects").fetchall():
            seqs = [s for (s,) in db.execute("SELECT seq FROM events WHERE project_id = ? ORDER BY seq",
                                             [project_id])]
            assert seqs == list(range(1, len(seqs) + 1)), f"project {project_id}: seqs not 1..{len(seqs)}"
        executions = db.execute("SELECT node_id, status, error FROM executions").fetchall()
        assert executions and all(status == "succeeded" for _, status, _ in executions), executions
