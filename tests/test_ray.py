"""Executions on a real Ray cluster (``ORCHESTRA_EXECUTOR=ray``): a head and two worker nodes with
distinct custom resources, started once for the module by Ray's own test utility, hubs as real
subprocesses driving it. What must hold is what holds locally: the same events, a cancel that leaves
no process, a hub restart that ends its agents; and what is new: a lost worker is ``lost``, not re-run.

Placement validation needs no cluster: those tests run without ray installed too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import TOKEN, WAIT_S, FakeAgents, LiveHub
from hubproc import HubProcess, hub_env, hub_process, wait_for_event
from test_runtime import overlapping

from benchmarks import procfs
from benchmarks.hub_subprocess import HubDidNotStart
from orchestra.core.settings import ConfigError, load_settings
from orchestra.system.process import EXECUTION_MARK

try:
    from ray.cluster_utils import Cluster
except ImportError:  # the extra is not installed: only the cluster tests are skipped
    HAVE_RAY = False
else:
    HAVE_RAY = True

needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install -e '.[ray]')")
WORKERS = ("worker-a", "worker-b")
LOST_WITHIN_S = 60  # generous: Ray notices a dead driver or node within seconds, but the machine is shared


@dataclass
class RayCluster:
    cluster: Any  # ray.cluster_utils.Cluster
    workers: dict[str, Any]  # resource name -> ray._private.node.Node

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def where(self, worker: str) -> str:
        return f"ray:{os.uname().nodename}/{self.workers[worker].node_id}"


def _processes_of(nodes: list[Any]) -> list[int]:
    return [info.process.pid for node in nodes for infos in node.all_processes.values() for info in infos]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A head that runs nothing (num_cpus=0, no dashboard) and declares a silent node dead quickly, and
    two workers whose only resource is their name; every Ray process is gone after the module."""
    if not HAVE_RAY:
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False,
        "_system_config": {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                           "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}})
    try:
        workers = {name: add_worker(cluster, {name: 100}) for name in WORKERS}
        yield RayCluster(cluster, workers)
    finally:
        nodes = [cluster.head_node, *cluster.worker_nodes]
        cluster.shutdown()
        left = [pid for pid in _processes_of(nodes) if procfs.alive(pid)]
        assert not left, f"Ray processes left behind: {left}"


def add_worker(cluster: Any, resources: dict[str, float]) -> Any:
    """A worker node. Ray gives a node's raylet a fixed 30 s to register: on a loaded machine it may not
    make it, so it gets a second chance (Ray's own exit hook ends the failed node's processes)."""
    try:
        return cluster.add_node(num_cpus=0, resources=resources)
    except Exception as exc:
        if "timed out during startup" not in str(exc):
            raise
        return cluster.add_node(num_cpus=0, resources=resources)


def ray_env(root: Path, agents: FakeAgents, cluster: RayCluster, **extra: str) -> dict[str, str]:
    settings = {"ORCHESTRA_CLAUDE_BIN": str(agents.bin_dir / "claude"), "ORCHESTRA_EXECUTOR": "ray",
                "ORCHESTRA_RAY_ADDRESS": cluster.address, "ORCHESTRA_RAY_SHARED_PATHS": str(root)}
    return hub_env(root, TOKEN, **(settings | extra))


async def add_node(http: httpx.AsyncClient, project_id: str, **fields: Any) -> None:
    body = {"title": fields["id"], "agent": "claude-code"} | fields
    response = await http.post(f"/projects/{project_id}/nodes", json=body)
    assert response.status_code == 201, response.text


async def first_output(hub: HubProcess, project_id: str, execution_id: str) -> None:
    """The fake agent records its pids before it prints: once it printed, its record is complete."""
    await wait_for_event(hub, project_id, lambda e: e["type"] == "execution.output"
                         and e["execution_id"] == execution_id, within=WAIT_S)


async def gone(pids: list[int], within: float = WAIT_S) -> None:
    """Wait until none of ``pids`` is alive: nothing signals another process's end, so /proc is read."""
    with trio.fail_after(within):
        while any(procfs.alive(pid) for pid in pids):  # noqa: ASYNC110
            await trio.sleep(0.05)


def marked(execution_id: str) -> list[int]:
    return procfs.processes_mentioning(f"{EXECUTION_MARK}={execution_id}", in_environment=True)


def shape(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["type"], e.get("output", {}).get("kind")) for e in events]


async def run_dag(env: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The same three-node DAG, each node placed on a named worker; its run and each node's events."""
    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "dag"})).json()
        pid = project["id"]
        await add_node(http, pid, id="plan", prompt="@lines=5", placement={"worker-a": 1})
        await add_node(http, pid, id="build", prompt="@lines=200", depends_on=["plan"], placement={"worker-b": 1})
        await add_node(http, pid, id="review", prompt="@lines=5 @result=done", depends_on=["build"],
                       placement={"worker-a": 1})
        launched = (await http.post("/launch", json={"project_id": pid})).json()
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished", within=WAIT_S * 2)
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
        events = {}
        for execution in run["executions"]:
            reply = await http.get(f"/executions/{execution['id']}/events", params={"limit": 10_000})
            events[execution["node_id"]] = reply.json()["events"]
    return run, events


@needs_ray
async def test_a_dag_placed_on_named_ray_nodes_matches_a_local_run(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    remote_run, remote_events = await run_dag(ray_env(tmp_path / "ray", agents, ray_cluster))
    local_run, local_events = await run_dag(hub_env(tmp_path / "local", TOKEN,
                                                    ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude")))
    assert remote_run["status"] == local_run["status"] == "succeeded"
    ran_on = {e["node_id"]: e["ran_on"] for e in remote_run["executions"]}
    assert ran_on == {"plan": ray_cluster.where("worker-a"), "build": ray_cluster.where("worker-b"),
                      "review": ray_cluster.where("worker-a")}
    assert {e["ran_on"] for e in local_run["executions"]} == {"local"}
    for node_id, events in local_events.items():
        assert shape(remote_events[node_id]) == shape(events), node_id
    texts = [e["output"]["text"] for e in remote_events["build"]
             if e["type"] == "execution.output" and e["output"]["kind"] == "text"]
    assert [t for t in texts if t.startswith("line ")] == [f"line {i}" for i in range(1, 201)]
    review = next(e for e in remote_run["executions"] if e["node_id"] == "review")
    assert review["result_text"] == "done" and review["pid"] is None  # a remote pid is not the hub's to kill
    records = agents.recorded()
    assert len(records) == 6 and all(EXECUTION_MARK in record["env"] for record in records)


@needs_ray
async def test_a_projects_parallelism_limit_holds_across_workers(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    async with hub_process(ray_env(tmp_path, agents, ray_cluster)) as hub, hub.http() as http:
        pid = (await http.post("/projects", json={"name": "one at a time", "max_parallel": 1})).json()["id"]
        for node_id, worker in (("left", "worker-a"), ("right", "worker-b")):
            await add_node(http, pid, id=node_id, prompt="@sleep=0.5", placement={worker: 1})
        launched = (await http.post("/launch", json={"project_id": pid})).json()
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished", within=WAIT_S * 2)
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
    assert run["status"] == "succeeded"
    assert overlapping(run["executions"]) == 1  # two free workers, yet one execution at a time
    assert {e["ran_on"] for e in run["executions"]} == {ray_cluster.where("worker-a"), ray_cluster.where("worker-b")}


@needs_ray
async def test_a_remote_cancel_leaves_no_process(tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    async with hub_process(ray_env(tmp_path, agents, ray_cluster)) as hub, hub.http() as http:
        pid = (await http.post("/projects", json={"name": "cancel"})).json()["id"]
        await add_node(http, pid, id="stuck", prompt="@child @setsid-child @ignore-term @hang",
                       placement={"worker-b": 1})
        execution_id = (await http.post("/launch", json={"project_id": pid})).json()["executions"][0]["id"]
        await first_output(hub, pid, execution_id)
        (record,) = agents.recorded()
        tree = [record["pid"], record["child_pid"], record["setsid_child_pid"]]
        assert os.getsid(record["setsid_child_pid"]) == record["setsid_child_pid"]  # it left the group
        keeper = procfs.ids(record["pid"])[0]  # the agent's parent owns its tree
        assert b"orchestra.executors.keeper" in procfs.cmdline(keeper)
        assert (await http.post(f"/executions/{execution_id}/cancel")).status_code == 202
        await wait_for_event(hub, pid, lambda e: e["type"] == "execution.finished", within=WAIT_S)
        execution = (await http.get(f"/executions/{execution_id}")).json()
        assert execution["status"] == "cancelled" and execution["ran_on"] == ray_cluster.where("worker-b")
        # Cancelled means gone: nothing of the tree, not even the escapee, outlives the finished event.
        assert [p for p in tree if procfs.alive(p)] == []
        assert marked(execution_id) == []
    await gone([keeper])


@needs_ray
async def test_budgets_and_timeouts_stop_remote_agents(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    async with hub_process(ray_env(tmp_path, agents, ray_cluster)) as hub, hub.http() as http:
        pid = (await http.post("/projects", json={"name": "limits"})).json()["id"]
        await add_node(http, pid, id="spender", prompt="@costs=0.01,0.02,0.08,0.2 @delay=0.05 @hang",
                       budget={"cost_usd": 0.05}, placement={"worker-a": 1})
        await add_node(http, pid, id="slow", prompt="@child @hang", timeout_s=1, placement={"worker-b": 1})
        launched = (await http.post("/launch", json={"project_id": pid})).json()
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished", within=WAIT_S * 2)
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
    by_node = {e["node_id"]: e for e in run["executions"]}
    assert by_node["spender"]["status"] == "failed"
    assert by_node["spender"]["error"] == ("node budget exceeded: cost $0.0800 is over its $0.05 budget; "
                                          "the agent was stopped")
    assert by_node["slow"]["status"] == "timed_out"
    assert [pid for record in agents.recorded() for pid in (record["pid"], record.get("child_pid"))
            if pid and procfs.alive(pid)] == []


@needs_ray
async def test_a_hub_killed_mid_run_takes_its_remote_agents_along(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    env = ray_env(tmp_path, agents, ray_cluster)
    async with hub_process(env) as hub, hub.http() as http:
        pid = (await http.post("/projects", json={"name": "restart"})).json()["id"]
        await add_node(http, pid, id="long", prompt="@child @setsid-child @hang", placement={"worker-a": 1})
        execution_id = (await http.post("/launch", json={"project_id": pid})).json()["executions"][0]["id"]
        await first_output(hub, pid, execution_id)
        os.kill(hub.pid, signal.SIGKILL)  # the driver dies: Ray ends its actors, each keeper its tree
        await hub.process.wait()
    (record,) = agents.recorded()
    await gone([record["pid"], record["child_pid"], record["setsid_child_pid"]], within=LOST_WITHIN_S)
    assert marked(execution_id) == []
    async with hub_process(env) as hub, hub.http() as http:
        execution = (await http.get(f"/executions/{execution_id}")).json()
        assert execution["status"] == "interrupted"


@needs_ray
async def test_a_killed_raylet_makes_the_execution_lost_and_the_run_fail(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    doomed = add_worker(ray_cluster.cluster, {"doomed": 100})
    try:
        async with hub_process(ray_env(tmp_path, agents, ray_cluster)) as hub, hub.http() as http:
            pid = (await http.post("/projects", json={"name": "lost"})).json()["id"]
            await add_node(http, pid, id="remote", prompt="@child @hang", placement={"doomed": 1}, retries=2)
            await add_node(http, pid, id="after", prompt="x", depends_on=["remote"])
            run = (await http.post("/launch", json={"project_id": pid})).json()
            execution_id = run["executions"][0]["id"]
            await first_output(hub, pid, execution_id)
            (record,) = agents.recorded()
            raylet = doomed.all_processes["raylet"][0].process
            os.kill(raylet.pid, signal.SIGKILL)
            await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished", within=LOST_WITHIN_S)
            finished = (await http.get(f"/runs/{run['run_id']}")).json()
            lost = next(e for e in finished["executions"] if e["node_id"] == "remote")
            assert finished["status"] == "failed"
            assert lost["status"] == "lost" and lost["attempt"] == 1  # never re-run, whatever its retries
            assert lost["error"].startswith("lost: the Ray worker") and "it is not run again" in lost["error"]
            assert [e["node_id"] for e in finished["executions"]] == ["remote", "after"]
            assert next(e for e in finished["executions"] if e["node_id"] == "after")["status"] == "skipped"
            events = (await http.get(f"/executions/{execution_id}/events")).json()["events"]
            assert events[-1]["type"] == "execution.finished" and events[-2]["output"]["kind"] == "error"
            await gone([record["pid"], record["child_pid"]])  # its keeper lost its actor: it ended the tree
            assert len(agents.recorded()) == 1
    finally:
        ray_cluster.cluster.remove_node(doomed, allow_graceful=False)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


async def run_git_dag(env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """A DAG on a git workspace (a fan-in included), each node on a named worker; its run, each node's
    diff, and the repository."""
    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "git", "workspace": "repo"})).json()
        pid, repo = project["id"], Path(project["workspace"])
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("base\n")
        git(repo, "add", "README.md")
        git(repo, "commit", "-q", "-m", "base")
        (repo / "README.md").write_text("base\nthe user's uncommitted edit\n")
        await add_node(http, pid, id="a", prompt="@write=a.txt:from-a,README.md:rewritten", placement={"worker-a": 1})
        await add_node(http, pid, id="b", prompt="@write=b.txt:from-b", depends_on=["a"], placement={"worker-b": 1})
        await add_node(http, pid, id="c", prompt="@write=c.txt:from-c", depends_on=["a", "b"],
                       placement={"worker-a": 1})
        launched = (await http.post("/launch", json={"project_id": pid})).json()
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished", within=WAIT_S * 2)
        run = (await http.get(f"/runs/{launched['run_id']}")).json()
        diffs = {e["node_id"]: (await http.get(f"/executions/{e['id']}/diff")).json() for e in run["executions"]}
    return run, diffs, repo


@needs_ray
async def test_a_git_dag_on_two_workers_gives_the_branches_and_diffs_of_a_local_run(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    remote_env = ray_env(tmp_path / "ray", agents, ray_cluster, ORCHESTRA_RAY_SHARED_PATHS="")  # nothing shared
    remote_run, remote_diffs, remote_repo = await run_git_dag(remote_env)
    remote_records = agents.recorded()
    local_run, local_diffs, local_repo = await run_git_dag(
        hub_env(tmp_path / "local", TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude")))
    assert remote_run["status"] == local_run["status"] == "succeeded", remote_run
    for run, repo in ((remote_run, remote_repo), (local_run, local_repo)):
        branches = set(git(repo, "branch", "--list", "orchestra/*", "--format=%(refname:short)").split())
        assert branches == {f"orchestra/{run['id']}/{node}" for node in "abc"}
        assert (repo / "README.md").read_text() == "base\nthe user's uncommitted edit\n"
        assert git(repo, "worktree", "list").count("\n") == 1
    for node in "abc":
        assert remote_diffs[node]["files"] == local_diffs[node]["files"], node
        assert remote_diffs[node]["diff"] == local_diffs[node]["diff"], node
    assert remote_diffs["a"]["files"] == [{"path": "README.md", "added": 1, "removed": 1},
                                          {"path": "a.txt", "added": 1, "removed": 0}]
    assert {e["node_id"]: e["ran_on"] for e in remote_run["executions"]} == {
        "a": ray_cluster.where("worker-a"), "b": ray_cluster.where("worker-b"), "c": ray_cluster.where("worker-a")}
    # Each agent ran in a clone of its own on the worker, which saw its upstream work, and is gone now.
    c_saw = next(r for r in remote_records if r["prompt"].startswith("@write=c.txt"))
    assert c_saw["files"]["a.txt"] == "from-a\n" and c_saw["files"]["b.txt"] == "from-b\n"
    assert all(not r["cwd"].startswith(str(tmp_path)) for r in remote_records)
    assert [r["cwd"] for r in remote_records if await trio.Path(r["cwd"]).exists()] == []


@needs_ray
async def test_a_follow_up_runs_where_its_session_is(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    """A git workspace, nothing shared, no placement: the first turn lands on either worker; the
    follow-up goes to the same node and to the same directory there, where the CLI finds its session."""
    async with hub_process(ray_env(tmp_path, agents, ray_cluster, ORCHESTRA_RAY_SHARED_PATHS="")) as hub, \
            hub.http() as http:
        project = (await http.post("/projects", json={"name": "turns", "workspace": "repo"})).json()
        pid, repo = project["id"], Path(project["workspace"])
        git(repo, "init", "-q", "-b", "main")
        git(repo, "commit", "-q", "--allow-empty", "-m", "base")
        await add_node(http, pid, id="a", prompt="@write=hello.txt:hi")
        launched = (await http.post("/launch", json={"project_id": pid})).json()
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished", within=WAIT_S * 2)
        first = (await http.get(f"/executions/{launched['executions'][0]['id']}")).json()
        reply = await http.post(f"/executions/{first['id']}/follow-up", json={"prompt": "@write=bye.txt:bye"})
        assert reply.status_code == 202, reply.text
        second_id = reply.json()["executions"][0]["id"]
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.finished" and e["run_id"] == reply.json()["run_id"],
                             within=WAIT_S * 2)
        second = (await http.get(f"/executions/{second_id}")).json()
    assert first["status"] == second["status"] == "succeeded", second
    assert second["ran_on"] == first["ran_on"] and first["ran_on"].startswith("ray:")
    before, after = sorted(agents.recorded(), key=lambda record: record["prompt"].startswith("@write=bye"))
    assert after["argv"][after["argv"].index("--resume") + 1] == first["session_id"]
    assert after["cwd"] == before["cwd"]  # the same directory on the worker: the CLI finds its session
    assert after["files"]["hello.txt"] == "hi\n"  # the follow-up starts from the first turn's work
    assert git(repo, "show", f"{second['commit_sha']}:bye.txt") == "bye\n"


@needs_ray
async def test_a_hub_that_cannot_reach_its_ray_cluster_refuses_to_start(tmp_path: Path) -> None:
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_EXECUTOR="ray", ORCHESTRA_RAY_ADDRESS="127.0.0.1:1",
                  ORCHESTRA_RAY_CONNECT_TIMEOUT_S="1")
    with pytest.raises(HubDidNotStart, match=r"configuration error: ORCHESTRA_RAY_ADDRESS: no Ray cluster "
                                             r"answered at 127\.0\.0\.1:1 within 1 s"):
        async with hub_process(env):
            pass


# -- placement: validated whatever the executor -------------------------------------------------------


@pytest.mark.parametrize("placement, where", [
    ({}, "placement"),
    ({"worker a": 1}, "placement"),
    ({"claude": 0}, "placement"),
    ({"claude": "one"}, "placement"),
    ([("claude", 1)], "placement"),
])
async def test_a_bad_placement_is_refused_and_changes_nothing(
        hub: LiveHub, placement: Any, where: str) -> None:
    project = await hub.create_project()
    response = await hub.post(f"/projects/{project['id']}/nodes",
                              {"title": "t", "prompt": "p", "agent": "claude-code", "placement": placement})
    assert response.status_code == 422, response.text
    assert where in str(response.json()["error"]["details"])
    assert (await hub.get(f"/projects/{project['id']}/nodes")).json()["nodes"] == []
    node = await hub.create_node(project["id"], id="n", placement={"claude": 1})
    response = await hub.patch(f"/projects/{project['id']}/nodes/n", {"placement": placement})
    assert response.status_code == 422, response.text
    assert (await hub.get(f"/projects/{project['id']}/nodes/n")).json() == node
    template = {"id": "placed", "name": "Placed", "command": ["x", "{prompt}"], "output": "text",
                "placement": placement}
    assert (await hub.post("/agent-templates", template)).status_code == 422
    assert (await hub.get("/agent-templates/placed")).status_code == 404


def test_the_executor_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"ORCHESTRA_EXECUTOR: Input should be 'local' or 'ray' \(got 'k8s'\)"):
        load_settings(executor="k8s")
    assert load_settings().executor == "local"
    if HAVE_RAY:
        settings = load_settings(executor="ray", ray_shared_paths=" /srv/a, ,/srv/b/ ")
        assert settings.ray_shared_path_list == [Path("/srv/a"), Path("/srv/b")]
    else:  # a hub told to use Ray without it refuses to start, saying what to install
        with pytest.raises(ConfigError, match=r"pip install 'orchestra-hub\[ray\]'"):
            load_settings(executor="ray")


async def test_placement_is_stored_on_nodes_and_templates_and_ignored_locally(hub: LiveHub) -> None:
    template = {"id": "placed", "name": "Placed", "command": ["/bin/echo", "{prompt}"], "output": "text",
                "placement": {"claude": 1}}
    created = await hub.post("/agent-templates", template)
    assert created.status_code == 201 and created.json()["placement"] == {"claude": 1}
    project = await hub.create_project()
    node = await hub.create_node(project["id"], id="n", agent="placed", placement={"worker-a": 1, "gpu": 0.5})
    assert node["placement"] == {"worker-a": 1, "gpu": 0.5}
    patched = await hub.patch(f"/projects/{project['id']}/nodes/n", {"placement": None})
    assert patched.json()["placement"] is None
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded" and run["executions"][0]["ran_on"] == "local"


@needs_ray
async def test_the_keeper_puts_a_remote_agent_in_the_same_sandbox(
        tmp_path: Path, agents: FakeAgents, ray_cluster: RayCluster) -> None:
    """tests/hostile_agent.py on a Ray worker, with ORCHESTRA_SANDBOX=bwrap: the keeper wraps it at the
    worker's working directory; it reaches nothing of the hub and its own work lands in its workspace."""
    hostile = Path(__file__).with_name("hostile_agent.py")
    env = ray_env(tmp_path, agents, ray_cluster, ORCHESTRA_SANDBOX="bwrap", OPENAI_API_KEY="sk-not-for-it")
    (tmp_path / "orchestra.db.token").write_text(TOKEN + "\n")
    async with hub_process(env) as hub, hub.http() as http:
        response = await http.post("/agent-templates", json={
            "id": "hostile", "name": "hostile", "output": "text", "placement": {"worker-a": 1},
            "command": [sys.executable, str(hostile), "{prompt}"],
            "sandbox": {"readable": [str(hostile.resolve().parent)]}})  # a checkout under /tmp is hidden
        assert response.status_code == 201, response.text
        other = (await http.post("/projects", json={"name": "other"})).json()
        project = (await http.post("/projects", json={"name": "hostile"})).json()
        targets = {"token_file": str(tmp_path / "orchestra.db.token"), "database": str(tmp_path / "orchestra.db"),
                   "other_workspace": other["workspace"], "outside": str(tmp_path / "outside.txt"),
                   "hub_pid": hub.pid, "hub_url": hub.url}
        await add_node(http, project["id"], id="evil", agent="hostile", prompt=json.dumps(targets))
        launched = (await http.post("/launch", json={"project_id": project["id"]})).json()
        await wait_for_event(hub, project["id"], lambda e: e["type"] == "run.finished", within=WAIT_S * 2)
        (execution,) = (await http.get(f"/runs/{launched['run_id']}")).json()["executions"]
        execution = (await http.get(f"/executions/{execution['id']}")).json()
    assert execution["status"] == "succeeded", execution
    assert execution["ran_on"] == ray_cluster.where("worker-a") and execution["sandbox"] == "bwrap"
    attempts = json.loads(execution["result_text"])
    assert {name for name, got in attempts.items() if got["ok"]} == set(), attempts
    assert (Path(project["workspace"]) / "work.txt").read_text() == "the agent's own work\n"
    assert not (tmp_path / "outside.txt").exists() and os.listdir(other["workspace"]) == []
