"""The Ray executor: each execution is one Ray actor on a worker machine (``ORCHESTRA_EXECUTOR=ray``).

The hub is the cluster's driver (``ray.init(address=ORCHESTRA_RAY_ADDRESS, namespace=…)``): its actors
die with it, as local agents do, and each actor's keeper then ends the agent's tree. An actor is never
restarted and its methods are never retried (``max_restarts=0``, ``max_task_retries=0``): an actor or
node that dies makes the execution ``lost``, not re-run. Placement is by Ray custom resources (a
node's or template's ``placement``, e.g. ``{"claude": 1}``); the actor itself asks for no CPU, so the
hub-wide and per-project limits stay the hub's to enforce.

Workspaces: one under ``ORCHESTRA_RAY_SHARED_PATHS`` (the same files on every worker, e.g. NFS) is used
in place. A git worktree is sent as a bundle of its base commit through Ray's object store; the agent
runs in a clone on the worker, and what it changed comes back as a binary patch applied to the hub's
worktree, where it is committed on the same ``orchestra/<run>/<node>`` branch as a local agent's work.
Any other workspace runs on the hub's machine.

A follow-up turn goes to the Ray node its parent ran on (node affinity, not soft): the CLI's session
files are there.

Blocking Ray calls run in worker threads; a read the hub stops waiting for (a cancel) is abandoned,
since the actor is ended right after.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import ray
import trio
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from orchestra.core.settings import ConfigError, Settings
from orchestra.core.statuses import ProcessEnd
from orchestra.executors import RunningAgent
from orchestra.executors.local import open_agent_process
from orchestra.executors.ray_host import KEEPER_EXIT_S, AgentHost
from orchestra.executors.spec import AgentSpec, OutputHandler, ProcessExit, SpawnError
from orchestra.system.lines import Line
from orchestra.workspaces.git_checkpoints import GIT_TIMEOUT_S, GitError, git

log = logging.getLogger(__name__)

READ_WAIT_S = 0.5  # how long one read waits on the worker for the first line (returns at once with lines)
ACTOR_OPTIONS: dict[str, Any] = {"max_restarts": 0, "max_task_retries": 0, "max_concurrency": 4, "num_cpus": 0}


@dataclass
class RayExecution:
    spec: AgentSpec
    actor: Any  # a ray.actor.ActorHandle of AgentHost
    where: str
    stderr_tail: bytes = b""
    returncode: int | None = None

    @property
    def recovery_fields(self) -> dict[str, int | None]:
        """Nothing: the process is on another machine, and its keeper ends it when the hub goes away."""
        return {}

    @property
    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", errors="replace")

    async def run(self, on_output: OutputHandler) -> ProcessExit:
        """Pull batches until the agent is done; the next is asked for once the last one is handled."""
        while True:
            try:
                reply = await _call(self.actor.read.remote(READ_WAIT_S))
            except RayActorError as exc:
                return ProcessExit(ProcessEnd.LOST, reason=_lost_reason(exc))
            if reply["lines"]:
                await on_output([Line(data, length) for data, length in reply["lines"]])
            if reply["done"]:
                self.stderr_tail, self.returncode = reply["stderr"], reply["exit_code"]
                if reply["lost"]:  # the worker's keeper ended it: its exit code is not the agent's doing
                    return ProcessExit(ProcessEnd.LOST, reason=reply["lost"])
                return ProcessExit(ProcessEnd.EXITED, reply["exit_code"])


class RayExecutor:
    name = "ray"

    def __init__(self, shared_paths: list[Path]) -> None:
        self.shared_paths = shared_paths
        self.host_class = ray.remote(AgentHost)
        # One spare actor per placement, already started (a Ray worker process and its keeper take
        # seconds to start): an execution takes it, and its successor starts warming up meanwhile.
        # Each actor still serves one execution only.
        self.spares: dict[frozenset[tuple[str, float]], Any] = {}
        self.lock = threading.Lock()

    def _take(self, placement: dict[str, float], node_id: str | None) -> Any:
        """The placement's spare, or a new actor when there is none; one on Ray node ``node_id`` (a
        follow-up's, where its session is; no spare there), failing if that node is gone. Blocking."""
        if node_id is not None:
            return self.host_class.options(**ACTOR_OPTIONS, resources=dict(placement), scheduling_strategy=(
                NodeAffinitySchedulingStrategy(node_id, soft=False))).remote()
        with self.lock:
            return self.spares.pop(frozenset(placement.items()), None) or self._new_actor(placement)

    def _replenish(self, placement: dict[str, float]) -> None:
        """Start the placement's next spare, unless one is there already. Blocking (Ray RPCs); a
        failure only costs the next execution its warm start."""
        with self.lock:
            key = frozenset(placement.items())
            if key not in self.spares:
                try:
                    self.spares[key] = self._new_actor(placement)
                except Exception:
                    log.exception("could not start a spare Ray actor for placement %s", placement)

    def _new_actor(self, placement: dict[str, float]) -> Any:
        return self.host_class.options(**ACTOR_OPTIONS, resources=dict(placement)).remote()

    async def close(self) -> None:
        spares, self.spares = list(self.spares.values()), {}
        for actor in spares:
            await trio.to_thread.run_sync(partial(ray.kill, actor, no_restart=True))

    def open(self, spec: AgentSpec, grace_s: float) -> AbstractAsyncContextManager[RunningAgent]:
        if any(spec.cwd.is_relative_to(path) for path in self.shared_paths):
            return self._open_remote(spec, grace_s, git_workspace=False)  # the worker sees the same files
        return self._open_unshared(spec, grace_s)

    @asynccontextmanager
    async def _open_unshared(self, spec: AgentSpec, grace_s: float) -> AsyncIterator[RunningAgent]:
        """A git worktree travels (a bundle there, a patch back); other workspaces stay on the hub."""
        if await trio.Path(spec.cwd, ".git").exists():
            async with self._open_remote(spec, grace_s, git_workspace=True) as execution:
                yield execution
        else:
            async with open_agent_process(spec, grace_s) as process:
                yield process

    @asynccontextmanager
    async def _open_remote(self, spec: AgentSpec, grace_s: float, git_workspace: bool) -> AsyncIterator[RunningAgent]:
        try:
            bundle = await trio.to_thread.run_sync(ray.put, await _bundle(spec.cwd)) if git_workspace else None
        except GitError as exc:
            raise SpawnError(f"could not send the workspace to the Ray worker: {exc}") from None
        actor = await trio.to_thread.run_sync(self._take, spec.executor_options, _ray_node(spec.same_place_as))
        try:
            refused: str | None = None
            async with trio.open_nursery() as nursery:  # the next spare starts while this agent does
                nursery.start_soon(partial(trio.to_thread.run_sync, self._replenish, spec.executor_options))
                try:
                    started = await _call(actor.start.remote({
                        "argv": spec.argv, "cwd": str(spec.cwd), "env": spec.env, "execution_id": spec.execution_id,
                        "grace_s": grace_s, "stdin": spec.stdin,
                        "sandbox": spec.sandbox.to_json() if spec.sandbox else None}, bundle))
                except RayActorError as exc:
                    refused = f"the Ray worker was lost before the agent started: {_lost_reason(exc)}"
                except RayError as exc:  # e.g. a follow-up whose worker is gone: nowhere to start it
                    refused = f"no Ray worker could take it ({type(exc).__name__}: {str(exc).strip()[:300]})"
            if refused is not None:
                raise SpawnError(refused)
            if "error" in started:
                raise SpawnError(started["error"])
            yield RayExecution(spec, actor, started["where"])
        except BaseException:
            with trio.CancelScope(shield=True):
                await _finish(actor, grace_s, spec.cwd if git_workspace else None, quiet=True)
            raise
        with trio.CancelScope(shield=True):
            await _finish(actor, grace_s, spec.cwd if git_workspace else None, quiet=False)


async def _call(ref: Any) -> Any:
    return await trio.to_thread.run_sync(ray.get, ref, abandon_on_cancel=True)


async def _finish(actor: Any, grace_s: float, worktree: Path | None, quiet: bool) -> None:
    """Have the keeper end the tree (returns once it is gone); bring a git workspace's changes back
    into the hub's ``worktree``, where they are committed as a local agent's are; end the actor.
    A lost actor's keeper ends the tree by itself. A patch that does not apply is a GitError, logged
    instead when the execution is already ending with an exception (``quiet``)."""
    try:
        with trio.move_on_after(grace_s * 2 + KEEPER_EXIT_S * 2):
            with contextlib.suppress(RayActorError):
                await _call(actor.end.remote(grace_s))
        if worktree is not None:
            await _bring_back(actor, worktree)
    except GitError as exc:
        if not quiet:
            raise
        log.error("%s", exc)
    finally:
        await trio.to_thread.run_sync(partial(ray.kill, actor, no_restart=True))


async def _bundle(worktree: Path) -> bytes:
    """The worktree's HEAD (the execution's base commit, upstream merges included) as a git bundle."""
    async with _scratch() as scratch:
        await git(worktree, "bundle", "create", "-q", str(scratch / "base.bundle"), "HEAD")
        return await trio.Path(scratch / "base.bundle").read_bytes()


async def _bring_back(actor: Any, worktree: Path) -> None:
    try:
        with trio.fail_after(GIT_TIMEOUT_S):
            patch: bytes = await _call(actor.changes.remote())
    except (RayActorError, RayTaskError, trio.TooSlowError) as exc:  # a lost worker, a git that failed there
        raise GitError(f"the work could not be brought back from the Ray worker ({type(exc).__name__})") from None
    if not patch:
        return
    async with _scratch() as scratch:
        await trio.Path(scratch / "work.patch").write_bytes(patch)
        await git(worktree, "apply", "--binary", "--whitespace=nowarn", str(scratch / "work.patch"))


@asynccontextmanager
async def _scratch() -> AsyncIterator[Path]:
    path = Path(await trio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="orchestra-ray-")))
    try:
        yield path
    finally:
        await trio.to_thread.run_sync(lambda: shutil.rmtree(path, ignore_errors=True))


def _ray_node(ran_on: str | None) -> str | None:
    """The Ray node id in an execution's ``ran_on`` (``ray:<host>/<node id>``); None for a local one."""
    if ran_on is None or not ran_on.startswith("ray:"):
        return None
    return ran_on.rsplit("/", 1)[-1]


def _lost_reason(exc: RayActorError) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the Ray worker running it went away ({type(exc).__name__}: {first[:300]})"


@asynccontextmanager
async def open_ray_executor(settings: Settings) -> AsyncIterator[RayExecutor]:
    """Connect to the cluster as its driver for the life of the block."""
    def connect() -> None:
        ray.init(address=settings.ray_address, namespace=settings.ray_namespace, log_to_driver=False,
                 configure_logging=False)

    with trio.move_on_after(settings.ray_connect_timeout_s) as waiting:
        await trio.to_thread.run_sync(connect, abandon_on_cancel=True)  # ray.init retries for ever
    if waiting.cancelled_caught:
        raise ConfigError(f"ORCHESTRA_RAY_ADDRESS: no Ray cluster answered at {settings.ray_address} within "
                          f"{settings.ray_connect_timeout_s:g} s (is `ray start --head` running there?)")
    log.info("connected to the Ray cluster at %s (namespace %s)", settings.ray_address, settings.ray_namespace)
    executor = RayExecutor(settings.ray_shared_path_list)
    try:
        yield executor
    finally:
        with trio.CancelScope(shield=True):
            await executor.close()
            await trio.to_thread.run_sync(ray.shutdown)
