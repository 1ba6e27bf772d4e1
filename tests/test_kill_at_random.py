"""SIGKILL the hub at random moments, again and again, on one database: after every restart no agent
process is left, the database is intact, the project's event seqs have no gap, nothing is left
half-finished.

Half of the kills land in the first 200 ms after a launch: a third at a uniformly random moment
after the launch is sent (answered or not); a third within a few ms of the run being committed (its
executions queued, no agent started); a third within a few ms of the first agent process appearing
in /proc, where agents are alive but their pids are not all stored yet. Those two windows are a few
ms wide, which uniform moments rarely hit. The other half land while the agents stream output. The
moments come from a seeded random generator: ``ORCHESTRA_KILL_SEED`` replays a failing sequence,
``ORCHESTRA_KILL_CYCLES`` changes how many kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
from conftest import TOKEN, FakeAgents
from hubproc import HubProcess, hub_env, hub_process, wait_for_event

from benchmarks import procfs

SEED = int(os.environ.get("ORCHESTRA_KILL_SEED", "20240611"))
CYCLES = int(os.environ.get("ORCHESTRA_KILL_CYCLES", "30"))
LAUNCH_WINDOW_S = 0.200  # kills this soon after a launch is sent
STORED_WINDOW_S = 0.010  # kills this soon after a launched run is committed
SPAWN_WINDOW_S = 0.015  # kills this soon after the first agent process of a launch appears
OUTPUT_WINDOW_S = 0.300  # kills this soon after the first output of a run
LEFTOVER_WAIT_S = 5.0  # how long the restarted hub has to make the orphans disappear
MAX_FAILED_CYCLES = 3  # stop early once this many cycles failed: the report is long enough

FINAL_EXECUTION = {"succeeded", "failed", "cancelled", "timed_out", "interrupted", "skipped"}
FINAL_RUN = {"succeeded", "failed", "cancelled"}

# Several agents alive at any kill moment, of every kind recovery has to find: one streaming (it dies
# of a broken pipe soon after the hub, but leaves its @child grandchild, which never writes), one that
# hangs after printing, one still asleep before printing anything, one whose grandchild leaves the
# process group with setsid(); and downstream nodes left queued.
NODES: list[dict[str, Any]] = [
    {"id": "stream", "agent": "claude-code", "prompt": "@lines=2000 @delay=0.002 @child"},
    {"id": "hang", "agent": "codex", "prompt": "@lines=20 @hang"},
    {"id": "asleep", "agent": "gemini", "prompt": "@sleep=60 @lines=5"},
    # @setsid-child: a grandchild that calls setsid() and sleeps an hour ("setsid_child_pid" in the
    # record). A fake agent without that directive ignores it: this node is then one more streamer.
    {"id": "escapee", "agent": "claude-code", "prompt": "@setsid-child @lines=2000 @delay=0.002"},
    {"id": "after-stream", "agent": "codex", "prompt": "@lines=10", "depends_on": ["stream"]},
    {"id": "after-both", "agent": "gemini", "prompt": "@lines=10", "depends_on": ["hang", "asleep"]},
]


@dataclass
class Kill:
    cycle: int
    mode: str  # after what the delay counts: "launch": the launch is sent; "stored": its run is
    # committed; "spawn": its first agent appears; "output": its first output event
    delay_s: float
    live_agents: int = 0  # agent processes (and their grandchildren) alive at the kill
    unfinished: int = 0  # executions queued or running in the database at the kill
    stored_pids: int = 0  # of those, how many had their agent's pid stored
    launch_answered: bool = False

    def __str__(self) -> str:
        return (f"cycle {self.cycle:2d} {self.mode:6s} +{self.delay_s * 1000:5.1f} ms: "
                f"{self.live_agents} agent process(es) alive, {self.unfinished} execution(s) unfinished, "
                f"{self.stored_pids} pid(s) stored, launch {'answered' if self.launch_answered else 'unanswered'}")


async def test_thirty_sigkills_at_random_moments_leave_no_agent_and_a_sound_database(
    tmp_path: Path, agents: FakeAgents
) -> None:
    rng = random.Random(SEED)
    early = (CYCLES + 1) // 2
    modes = (["launch"] * (early - 2 * (early // 3)) + ["stored", "spawn"] * (early // 3)
             + ["output"] * (CYCLES - early))
    rng.shuffle(modes)
    db_path = tmp_path / "orchestra.db"
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_MAX_PARALLEL="8",
                  ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"),
                  ORCHESTRA_CODEX_BIN=str(agents.bin_dir / "codex"),
                  ORCHESTRA_GEMINI_BIN=str(agents.bin_dir / "gemini"))
    kills: list[Kill] = []
    failures: list[str] = []
    started = time.monotonic()
    print(f"seed {SEED} (ORCHESTRA_KILL_SEED), {CYCLES} cycles (ORCHESTRA_KILL_CYCLES)")

    def report() -> str:
        return (f"seed {SEED}, {len(kills)} kill(s) in {time.monotonic() - started:.1f} s:\n  "
                + "\n  ".join(map(str, kills)))

    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "killed at random"})).json()
        project_id = project["id"]
        for node in NODES:
            response = await http.post(f"/projects/{project_id}/nodes", json={"title": node["id"]} | node)
            assert response.status_code == 201, response.text
        workspace = Path(project["workspace"])
        kills.append(await _launch_and_kill(hub, project_id, db_path, workspace, 1, modes[0], rng))

    for cycle in range(1, CYCLES + 1):
        last = cycle == CYCLES
        async with hub_process(env) as hub:  # recovery runs before the hub listens
            problems = await _check_after_restart(tmp_path, db_path, project_id)
            if problems:
                failures.append(f"after the kill of {kills[-1]}:\n    " + "\n    ".join(problems)
                                + "\n    the restarted hub's log:\n      "
                                + _log_tail(hub).replace("\n", "\n      "))
            if len(failures) >= MAX_FAILED_CYCLES:
                break
            if not last:
                kills.append(await _launch_and_kill(hub, project_id, db_path, workspace, cycle + 1,
                                                    modes[cycle], rng))
    print(report())
    assert not failures, f"{report()}\n\n" + "\n\n".join(failures)
    with_agents = sum(k.live_agents > 0 for k in kills)
    before_pids = sum(k.unfinished > 0 and k.stored_pids == 0 for k in kills)
    assert with_agents >= min(10, len(kills) // 3), f"too few kills hit live agents ({with_agents})\n{report()}"
    assert before_pids >= 1, f"no kill landed after a launch was stored but before any pid was\n{report()}"


async def _launch_and_kill(hub: HubProcess, project_id: str, db_path: Path, workspace: Path, cycle: int,
                           mode: str, rng: random.Random) -> Kill:
    window = {"launch": LAUNCH_WINDOW_S, "stored": STORED_WINDOW_S, "spawn": SPAWN_WINDOW_S,
              "output": OUTPUT_WINDOW_S}[mode]
    # In the narrow windows the moments are denser near their start: the next write lands within ms.
    narrow = mode in ("stored", "spawn")
    kill = Kill(cycle, mode, window * (rng.random() ** 2 if narrow else rng.random()))
    since = _max_seq(db_path, project_id)
    answered = trio.Event()

    async def launch(http: httpx.AsyncClient) -> None:
        try:
            response = await http.post("/launch", json={"project_id": project_id})
        except httpx.HTTPError:
            return  # killed before it answered
        assert response.status_code == 202, response.text
        answered.set()

    async with hub.http() as http, trio.open_nursery() as nursery:
        nursery.start_soon(launch, http)
        if mode == "stored":
            with _read_only(db_path) as db, trio.move_on_after(10):
                while not db.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone():
                    await trio.lowlevel.checkpoint()  # no event tells a commit to another process
            assert _unfinished(db_path)[0], "no run was stored within 10 s of the launch:\n" + _log_tail(hub)
        elif mode == "spawn":
            with trio.move_on_after(10):
                while not _agent_processes(workspace):  # no event tells a fork: poll /proc
                    await trio.lowlevel.checkpoint()
            assert _agent_processes(workspace), (
                "no agent process appeared within 10 s of the launch; the hub's log:\n" + _log_tail(hub))
        elif mode == "output":
            await wait_for_event(hub, project_id, lambda e: e["type"] == "execution.output", since=since)
        await trio.sleep(kill.delay_s)  # the kill moment is the input here, not a synchronization
        # Freeze the hub, take stock of what it leaves behind, then kill it: the SIGKILL lands at
        # the moment that was counted.
        hub.process.send_signal(signal.SIGSTOP)
        kill.launch_answered = answered.is_set()
        kill.live_agents = len(_agent_processes(workspace))
        kill.unfinished, kill.stored_pids = _unfinished(db_path)
        hub.process.kill()
        await hub.process.wait()
    return kill


async def _check_after_restart(tmp_path: Path, db_path: Path, project_id: str) -> list[str]:
    problems = []
    left = _leftovers(tmp_path)
    with trio.move_on_after(LEFTOVER_WAIT_S):
        while left:
            await trio.sleep(0.05)
            left = _leftovers(tmp_path)
    if left:
        problems.append(f"{len(left)} agent process(es) survived the restart by {LEFTOVER_WAIT_S:g} s: "
                        + "; ".join(f"{pid} {what}" for pid, what in left.items()))
        for pid in left:  # so the next cycles start clean
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    with _read_only(db_path) as db:
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            problems.append(f"PRAGMA integrity_check: {integrity}")
        seqs = [seq for (seq,) in db.execute("SELECT seq FROM events WHERE project_id = ? ORDER BY seq",
                                             [project_id])]
        if seqs != list(range(1, len(seqs) + 1)):
            gaps = sorted(set(range(1, (max(seqs) if seqs else 0) + 1)) - set(seqs))
            dupes = sorted({s for s in seqs if seqs.count(s) > 1})
            problems.append(f"event seqs are not 1..{len(seqs)}: missing {gaps[:20]}, duplicated {dupes[:20]}")
        executions = [row for row in db.execute(
            "SELECT id, node_id, status, pid, error FROM executions WHERE project_id = ?", [project_id])
            if row[2] not in FINAL_EXECUTION]
        if executions:
            problems.append(f"executions not in a final state: {executions}")
        runs = [row for row in db.execute("SELECT id, status, error FROM runs WHERE project_id = ?", [project_id])
                if row[1] not in FINAL_RUN]
        if runs:
            problems.append(f"runs not in a final state: {runs}")
    return problems


def _log_tail(hub: HubProcess, lines: int = 15) -> str:
    return "\n".join(line[:600] for line in hub.log.decode(errors="replace").splitlines()[-lines:])


# -- processes --------------------------------------------------------------------------------------


def _within(root: str, pid: int) -> bool:
    return (cwd := procfs.cwd(pid)) == root or cwd.startswith(root + "/")


def _agent_processes(workspace: Path) -> list[int]:
    """Live processes working in the project's workspace: the agents and whatever they spawned."""
    return procfs.live_processes(partial(_within, str(workspace)))  # the cwd first: it rules out nearly all


def _leftovers(tmp_path: Path) -> dict[int, str]:
    """Live processes that mention the test's directory (the fake agents' command line) or work in it
    (the agents' grandchildren): pid -> what it is."""
    root = str(tmp_path)
    found = {pid: f"[{_cmdline(pid)[:160]}] in {procfs.cwd(pid)}" for pid in procfs.live_processes(
        lambda pid: root in _cmdline(pid) or _within(root, pid))}
    if found:
        roles = _recorded_roles(tmp_path / "records")
        for pid in found:
            found[pid] = f"{roles.get(pid, 'process')} {found[pid]} ({_ids(pid)})"
    return found


def _cmdline(pid: int) -> str:
    return procfs.cmdline(pid).replace(b"\0", b" ").decode(errors="replace").strip()


def _recorded_roles(records: Path) -> dict[int, str]:
    """What the fake agents recorded about themselves: pid -> 'agent <prompt>' / '@child of <pid>' /
    '@setsid-child of <pid>'."""
    roles: dict[int, str] = {}
    for path in records.glob("*.json") if records.is_dir() else ():
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        roles[record["pid"]] = f"agent {record['prompt']!r}"
        for key, role in (("child_pid", "@child"), ("setsid_child_pid", "@setsid-child")):
            if record.get(key):
                roles[record[key]] = f"{role} of agent {record['pid']}"
    return roles


def _ids(pid: int) -> str:
    if (found := procfs.ids(pid)) is None:
        return "gone"
    return "ppid {}, pgid {}, sid {}".format(*found)


# -- the database, read beside the hub ---------------------------------------------------------------


@contextmanager
def _read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        yield db
    finally:
        db.close()


def _max_seq(db_path: Path, project_id: str) -> int:
    with _read_only(db_path) as db:
        return db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE project_id = ?", [project_id]).fetchone()[0]


def _unfinished(db_path: Path) -> tuple[int, int]:
    """(executions queued or running, how many of them have a pid stored), as committed right now."""
    try:
        with _read_only(db_path) as db:
            rows = db.execute("SELECT pid FROM executions WHERE status IN ('queued', 'running')").fetchall()
    except sqlite3.Error:
        return -1, -1
    return len(rows), sum(pid is not None for (pid,) in rows)
