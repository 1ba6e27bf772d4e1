"""Every agent in a bubblewrap sandbox, on a real hub with real subprocesses: a hostile script agent
tries to reach what is not its own (the token, the database, another project, the hub's process, its
API, other CLIs' keys) and fails with the sandbox on -- and succeeds with ORCHESTRA_SANDBOX=off, so
the test can fail. Its own work is still committed; a cancelled or killed sandbox leaves no process;
templates that would mount the hub's state are refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import TOKEN, FakeAgents, LiveHub, make_settings, serving
from hubproc import ENTRY, hub_env, hub_process, wait_for_event

from benchmarks.procfs import processes_mentioning, state
from orchestra.core.settings import load_settings
from orchestra.executors.sandbox import hidden_paths, probe
from orchestra.system.bwrap import SandboxSpec, sandboxed_argv
from orchestra.system.process import EXECUTION_MARK

_CANNOT = probe()
pytestmark = pytest.mark.skipif(_CANNOT is not None, reason=f"bubblewrap cannot sandbox here: {_CANNOT}")

OTHER_KEY = "sk-openai-not-for-this-agent"

HOSTILE_AGENT = Path(__file__).with_name("hostile_agent.py")
# The tests' agent scripts, readable in the sandbox: a checkout under /tmp, /home or /root is hidden from agents.
TESTS_DIR = str(Path(__file__).resolve().parent)

ATTEMPTS = {"read_token", "read_database", "list_other_project", "write_other_project", "write_outside",
            "signal_hub", "read_other_key", "api_with_found_token"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


@asynccontextmanager
async def hub_with_token_file(tmp_path: Path, agents: FakeAgents, sandbox: str) -> AsyncIterator[LiveHub]:
    """A hub whose token lives in its file beside the database (no ORCHESTRA_TOKEN), as in production."""
    settings = make_settings(tmp_path, agents, sandbox=sandbox, token=None)
    settings.token_path.write_text(TOKEN + "\n")
    settings.token_path.chmod(0o600)
    async with serving(settings) as live:
        yield live


@pytest.fixture
async def sandboxed(tmp_path: Path, agents: FakeAgents, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveHub]:
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)  # in the hub's environment: another CLI's key
    async with hub_with_token_file(tmp_path, agents, "bwrap") as live:
        yield live


@pytest.fixture
async def unsandboxed(tmp_path: Path, agents: FakeAgents, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveHub]:
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)
    async with hub_with_token_file(tmp_path, agents, "off") as live:
        yield live


async def add_template(hub: LiveHub, template_id: str, script: Path, **fields: Any) -> None:
    response = await hub.post("/agent-templates", {"id": template_id, "name": template_id, "output": "text",
                                                   "command": [sys.executable, str(script), "{prompt}"],
                                                   "sandbox": {"readable": [TESTS_DIR]}} | fields)
    assert response.status_code == 201, response.text


async def hostile_run(hub: LiveHub, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any], Path, Path]:
    """A git project with a hostile node (a claude-like template: ANTHROPIC_* only) beside another
    project; the hostile execution, what each attempt got, its repository and the other workspace."""
    await add_template(hub, "hostile", HOSTILE_AGENT, env_passthrough=["ANTHROPIC_*"])
    other = await hub.create_project(name="other")
    other_ws = Path(other["workspace"])
    (other_ws / "secret.txt").write_text("another project's code\n")
    project = await hub.create_project(name="hostile", workspace="repo")
    repo = Path(project["workspace"])
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("base\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "base")
    settings = hub.settings
    targets = {"token_file": str(settings.token_path), "database": str(settings.database_path),
               "other_workspace": str(other_ws), "outside": str(tmp_path / "outside.txt"),
               "hub_pid": os.getpid(), "hub_url": hub.url}
    await hub.create_node(project["id"], id="evil", agent="hostile", prompt=json.dumps(targets))
    run = await hub.wait_run(await hub.launch(project["id"]))
    (execution,) = run["executions"]
    execution = (await hub.get(f"/executions/{execution['id']}")).json()
    attempts = json.loads(execution["result_text"])
    assert set(attempts) == ATTEMPTS, execution
    return execution, attempts, repo, other_ws


async def test_a_hostile_agent_reaches_nothing_of_the_hub_but_its_work_is_committed(
        sandboxed: LiveHub, tmp_path: Path) -> None:
    hub = sandboxed
    token_before = hub.settings.token_path.read_bytes()
    execution, attempts, repo, other_ws = await hostile_run(hub, tmp_path)

    assert execution["status"] == "succeeded", execution
    assert execution["sandbox"] == "bwrap"
    assert {name for name, result in attempts.items() if result["ok"]} == set(), attempts
    assert "401" in attempts["api_with_found_token"]["detail"]  # the hub's port answers, without a token
    # Nothing of the hub changed; the agent's own work is on its branch.
    assert hub.settings.token_path.read_bytes() == token_before
    assert sorted(p.name for p in other_ws.iterdir()) == ["secret.txt"]
    assert not (tmp_path / "outside.txt").exists()
    assert (await hub.get("/projects")).status_code == 200
    assert git(repo, "show", f"{execution['branch']}:work.txt") == "the agent's own work\n"


async def test_with_the_sandbox_off_the_same_attempts_succeed(unsandboxed: LiveHub, tmp_path: Path) -> None:
    execution, attempts, _repo, other_ws = await hostile_run(unsandboxed, tmp_path)

    assert execution["status"] == "succeeded", execution
    assert execution["sandbox"] == "off: ORCHESTRA_SANDBOX=off"
    assert {name for name, result in attempts.items() if not result["ok"]} == set(), attempts
    assert OTHER_KEY in attempts["read_other_key"]["detail"]
    assert (other_ws / "pwned.txt").exists() and (tmp_path / "outside.txt").exists()


async def test_health_says_how_agents_are_sandboxed(sandboxed: LiveHub) -> None:
    assert (await sandboxed.http.get("/health", headers={"Authorization": ""})).json()["sandbox"] == "bwrap"


async def test_health_says_when_agents_run_without_a_sandbox(unsandboxed: LiveHub) -> None:
    health = (await unsandboxed.http.get("/health", headers={"Authorization": ""})).json()
    assert health["sandbox"] == "off: ORCHESTRA_SANDBOX=off"


@pytest.mark.parametrize(("sandbox", "field"), [
    ({"writable": ["~/.mine/", "{state}"]}, "sandbox.writable[1]"),
    ({"readable": ["{state}/orchestra.db.token"]}, "sandbox.readable[0]"),
    ({"readable": ["{workspaces}/prj_other"]}, "sandbox.readable[0]"),
    ({"writable": ["/"]}, "sandbox.writable[0]"),  # above the state directory: everything
    ({"writable": ["relative/path"]}, "sandbox.writable[0]"),
    ({"network": "some"}, "sandbox.network"),
])
async def test_a_template_that_would_mount_the_hubs_state_is_refused(
        hub: LiveHub, sandbox: dict[str, Any], field: str) -> None:
    paths = {"state": str(hub.settings.state_dir), "workspaces": str(hub.settings.workspaces_root)}
    sandbox = {kind: [p.format(**paths) for p in value] if isinstance(value, list) else value
               for kind, value in sandbox.items()}
    response = await hub.post("/agent-templates", {"id": "greedy", "name": "greedy", "output": "text",
                                                   "command": ["greedy", "{prompt}"], "sandbox": sandbox})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    details = error["details"] if isinstance(error["details"], dict) else {}
    assert details.get("field") == field or f"'{field}'" in error["message"], error
    assert (await hub.get("/agent-templates/greedy")).status_code == 404  # nothing stored


async def test_env_passthrough_cannot_name_the_hubs_own_settings(hub: LiveHub) -> None:
    response = await hub.post("/agent-templates", {"id": "greedy", "name": "greedy", "output": "text",
                                                   "command": ["greedy", "{prompt}"],
                                                   "env_passthrough": ["ORCHESTRA_*"]})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "env_passthrough"
    assert (await hub.get("/agent-templates/greedy")).status_code == 404


async def test_a_template_with_its_own_state_and_no_network_is_stored_and_sandboxed(
        sandboxed: LiveHub, tmp_path: Path) -> None:
    """The declared state directory is created and writable, the network is loopback only (the hub's
    port cannot be reached), the check runs in the same sandbox, and the execution records it."""
    hub = sandboxed
    script = Path(__file__).with_name("offline_agent.py")
    response = await hub.post("/agent-templates", {
        "id": "offline", "name": "offline", "output": "text", "command": [sys.executable, str(script), "{prompt}"],
        "sandbox": {"writable": ["~/.offline-agent/"], "readable": [TESTS_DIR], "network": "none"}})
    assert response.status_code == 201, response.text
    assert response.json()["sandbox"] == {"writable": ["~/.offline-agent/"], "readable": [TESTS_DIR],
                                          "network": "none"}
    project = await hub.create_project()
    check = [sys.executable, "-c", "import os, sys; sys.exit(0 if os.getppid() < 10 and not "
             "os.path.exists(sys.argv[1]) else 1)", str(hub.settings.database_path)]
    await hub.create_node(project["id"], id="a", agent="offline", prompt=json.dumps({"port": hub.running.port}),
                          check=check)
    run = await hub.wait_run(await hub.launch(project["id"]))
    (execution,) = run["executions"]
    execution = (await hub.get(f"/executions/{execution['id']}")).json()
    # The check passed too: it ran in a PID namespace, without the database in sight.
    assert execution["status"] == "succeeded", (execution["error"], execution["result_text"], execution["stderr"])
    assert execution["sandbox"] == "bwrap, network none"
    assert execution["result_text"].startswith("no network"), execution["result_text"]
    assert (Path(os.environ["HOME"]) / ".offline-agent" / "state").read_text() == "kept"
    shutil.rmtree(Path(os.environ["HOME"]) / ".offline-agent")


SLEEPING_AGENT = Path(__file__).with_name("sleeping_agent.py")


def marked(execution_id: str) -> list[int]:
    return processes_mentioning(f"{EXECUTION_MARK}={execution_id}", in_environment=True)


def zombie_children() -> list[int]:
    """This process's children that exited and were never waited for (a sandbox orphaned to the hub)."""
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as file:
        return [int(pid) for pid in file.read().split() if state(int(pid)) == "zombie"]


async def wait_for_output(hub: LiveHub, execution_id: str, text: str) -> None:
    async def read() -> list[dict[str, Any]]:
        return await hub.events(execution_id)

    first = (await hub.get(f"/executions/{execution_id}")).json()
    await hub.wait_for(first["project_id"], lambda events: any(
        e["type"] == "execution.output" and text in json.dumps(e["output"]) for e in events), read)


async def test_cancelling_a_sandboxed_agent_leaves_no_process_and_no_zombie(sandboxed: LiveHub) -> None:
    hub = sandboxed
    zombies = set(zombie_children())  # the suite's earlier tests may leave some: only this one's count
    await add_template(hub, "sleeper", SLEEPING_AGENT)
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="sleeper")
    launched = await hub.launch(project["id"])
    (execution,) = launched["executions"]
    await wait_for_output(hub, execution["id"], "ready")
    assert len(marked(execution["id"])) >= 5  # bwrap, its init, the agent, its child and its setsid grandchild

    assert (await hub.post(f"/executions/{execution['id']}/cancel")).status_code == 202
    ended = await hub.wait_execution(execution["id"], {"cancelled"})
    assert ended["sandbox"] == "bwrap"
    assert marked(execution["id"]) == []
    assert set(zombie_children()) <= zombies


async def test_a_timed_out_sandboxed_agent_leaves_no_process(sandboxed: LiveHub) -> None:
    hub = sandboxed
    zombies = set(zombie_children())
    await add_template(hub, "sleeper", SLEEPING_AGENT)
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="sleeper", timeout_s=1)
    run = await hub.wait_run(await hub.launch(project["id"]))
    (execution,) = run["executions"]
    assert execution["status"] == "timed_out"
    assert marked(execution["id"]) == []
    assert set(zombie_children()) <= zombies


async def test_killing_the_hub_leaves_no_sandboxed_process(tmp_path: Path) -> None:
    """SIGKILL of the hub: the sandboxed agent, its child and its setsid grandchild are gone once the hub
    starts again (the mark sweep kills the sandbox's init, and its PID namespace with it)."""
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_SANDBOX="bwrap")
    async with hub_process(env) as hub, hub.http() as http:
        response = await http.post("/agent-templates", json={
            "id": "sleeper", "name": "sleeper", "output": "text",
            "command": [sys.executable, str(SLEEPING_AGENT), "{prompt}"], "sandbox": {"readable": [TESTS_DIR]}})
        assert response.status_code == 201, response.text
        project = (await http.post("/projects", json={"name": "p"})).json()
        await http.post(f"/projects/{project['id']}/nodes", json={"id": "a", "title": "a", "agent": "sleeper",
                                                                   "prompt": "sleep"})
        launched = (await http.post("/launch", json={"project_id": project["id"]})).json()
        (execution,) = launched["executions"]
        await wait_for_event(hub, project["id"], lambda e: e["type"] == "execution.output"
                             and e["execution_id"] == execution["id"])
        assert len(marked(execution["id"])) >= 5
        hub.process.send_signal(signal.SIGKILL)
        await hub.process.wait()
    async with hub_process(env) as hub, hub.http() as http:
        again = (await http.get(f"/executions/{execution['id']}")).json()
        assert again["status"] == "interrupted" and again["sandbox"] == "bwrap"
        with trio.fail_after(10):
            while marked(execution["id"]):  # noqa: ASYNC110 - the kernel tears the namespace down: poll /proc
                await trio.sleep(0.05)


async def test_a_sandboxed_agent_outlives_the_thread_that_spawned_it(sandboxed: LiveHub) -> None:
    """trio forks agents from worker threads that end after 10 s idle: the sandbox must not die with
    one (bwrap's --die-with-parent did: PR_SET_PDEATHSIG follows the thread)."""
    hub = sandboxed
    await add_template(hub, "sleeper", SLEEPING_AGENT)
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="sleeper", timeout_s=14)
    run = await hub.wait_run(await hub.launch(project["id"]))
    (execution,) = run["executions"]
    assert execution["status"] == "timed_out", execution  # not killed before its timeout



def without_bwrap(tmp_path: Path) -> str:
    """A PATH with git and python but no bwrap, as on a machine without the bubblewrap package."""
    bin_dir = tmp_path / "nobwrap"
    bin_dir.mkdir()
    for tool in ("git", "true"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


async def test_without_bwrap_auto_starts_unsandboxed_and_says_so(tmp_path: Path) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_SANDBOX="auto", PATH=without_bwrap(tmp_path))
    async with hub_process(env) as hub, hub.http() as http:
        health = (await http.get("/health")).json()
    assert health["sandbox"] == "off: bwrap not found (install the bubblewrap package)"
    assert b"agents run without a sandbox (bwrap not found" in hub.log


def test_without_bwrap_a_required_sandbox_refuses_to_start(tmp_path: Path) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_SANDBOX="bwrap", PATH=without_bwrap(tmp_path))
    done = subprocess.run([sys.executable, str(ENTRY)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "ORCHESTRA_SANDBOX=bwrap: bwrap not found" in done.stderr


async def test_a_node_can_take_its_agent_off_the_network(sandboxed: LiveHub) -> None:
    hub = sandboxed
    response = await hub.post("/agent-templates", {
        "id": "online", "name": "online", "output": "text",
        "command": [sys.executable, str(Path(__file__).with_name("offline_agent.py")), "{prompt}"],
        "sandbox": {"writable": ["~/.offline-agent/"], "readable": [TESTS_DIR]}})
    assert response.status_code == 201, response.text
    project = await hub.create_project()
    prompt = json.dumps({"port": hub.running.port})
    await hub.create_node(project["id"], id="cut", agent="online", prompt=prompt, network="none")
    await hub.create_node(project["id"], id="wired", agent="online", prompt=prompt)
    assert (await hub.get(f"/projects/{project['id']}/nodes/cut")).json()["network"] == "none"
    await hub.refuse_node(project["id"], {"agent": "online", "network": "some"}, "network")
    run = await hub.wait_run(await hub.launch(project["id"]))
    by_node = {e["node_id"]: (await hub.get(f"/executions/{e['id']}")).json() for e in run["executions"]}
    shutil.rmtree(Path(os.environ["HOME"]) / ".offline-agent")
    assert by_node["cut"]["sandbox"] == "bwrap, network none"
    assert by_node["cut"]["result_text"].startswith("no network"), by_node["cut"]
    assert by_node["wired"]["sandbox"] == "bwrap"
    assert by_node["wired"]["result_text"] == "reached the hub", by_node["wired"]


async def test_a_flow_file_cannot_bring_a_template_that_exposes_the_hub(hub: LiveHub) -> None:
    flow = (f'[project]\nname = "sneaky"\n\n[[templates]]\nid = "greedy"\nname = "greedy"\noutput = "text"\n'
            f'command = ["greedy", "{{prompt}}"]\nsandbox = {{ writable = ["{hub.settings.state_dir}"] }}\n')
    response = await hub.post("/flows/apply", content=flow.encode(), headers={"Content-Type": "application/toml"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "templates[0].sandbox.writable[0]"
    assert (await hub.get("/agent-templates/greedy")).status_code == 404
    assert (await hub.get("/projects")).json()["projects"] == []


def test_a_state_directory_holding_the_hubs_code_is_masked_file_by_file(tmp_path: Path) -> None:
    """``python orchestra.py`` in a checkout keeps orchestra.db beside the code: hiding that directory
    would hide the code from the demo agent, so its database files and token are masked instead."""
    root = Path(__file__).resolve().parents[1]
    beside_code = load_settings(database_url=f"sqlite:///{root / 'orchestra.db'}", workspaces=tmp_path / "ws")
    hidden, _scratch, masked = hidden_paths(beside_code)
    assert str(root) not in hidden and str(tmp_path / "ws") in hidden
    assert {str(root / "orchestra.db"), str(root / "orchestra.db-wal"), str(root / "orchestra.db.token")} <= set(masked)
    elsewhere = load_settings(database_url=f"sqlite:///{tmp_path / 'state' / 'orchestra.db'}")
    assert str(tmp_path / "state") in hidden_paths(elsewhere)[0]


def test_a_masked_file_cannot_be_read_in_the_sandbox(tmp_path: Path) -> None:
    secret = tmp_path / "orchestra.db.token"
    secret.write_text("token\n")
    (tmp_path / "cwd").mkdir()
    try:
        spec = SandboxSpec(hidden=(), masked=(str(secret),))
        argv = sandboxed_argv(["cat", str(secret)], str(tmp_path / "cwd"), {"PATH": "/usr/bin:/bin"}, spec)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    finally:
        secret.unlink()
    assert done.returncode != 0 and "token" not in done.stdout, done  # a device node mounted nodev: EACCES
