"""The Ray executor: each execution is one Ray actor on a worker machine (``ORCHESTRA_EXECUTOR=ray``).

The hub is the cluster's driver (``ray.init(address=ORCHESTRA_RAY_ADDRESS, namespace=…)``): its actors
die with it, as local agents do, and each actor's keeper then ends the agent's tree. An actor is never
restarted and its methods are never retried (``max_restarts=0``, ``max_task_retries=0``): an actor or
node that dies makes the execution ``lost``, not re-run. Placement is by Ray custom resources (a
node's or template's ``placement``, e.g. ``{"claude": 1}``); the actor itself asks for no CPU, so the
hub-wide and per-project limits stay the hub's to enforce.

Blocking Ray calls run in worker threads; a read the hub stops waiting for (a cancel) is abandoned,
since the actor is ended right after. A workspace Ray workers cannot see (not under
``ORCHESTRA_RAY_SHARED_PATHS``) runs on the hub's machine.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import trio
from ray.exceptions import RayActorError

from ..lines import Line
from ..process import AgentSpec, OutputHandler, ProcessExit, SpawnError, open_agent_process
from ..settings import Settings
from . import Execution
from .ray_host import KEEPER_EXIT_S, AgentHost

log = logging.getLogger("orchestra.executors.ray")

READ_WAIT_S = 0.5  # how long one read waits on the worker for the first line (returns at once with lines)
ACTOR_OPTIONS: dict[str, Any] = {"max_restarts": 0, "max_task_retries": 0, "max_concurrency": 4, "num_cpus": 0}


@dataclass
class RayExecution:
    actor: Any  # a ray.actor.ActorHandle of AgentHost
    where: str
    stderr_tail: bytes = b""
    returncode: int | None = None
    pid: int | None = None  # on another machine: the hub's recovery must not kill a local pid
    start_ticks: int | None = None
    lost: list[str] = field(default_factory=list)

    @property
    def stderr_text(self) -> str:
        return self.stderr_tail.decode("utf-8", errors="replace")

    async def run(self, on_output: OutputHandler) -> ProcessExit:
        """Pull batches until the agent is done; the next is asked for once the last one is handled."""
        while True:
            try:
                reply = await _call(self.actor.read.remote(READ_WAIT_S))
            except RayActorError as exc:
                self.lost.append(_lost_reason(exc))
                return ProcessExit("lost", reason=self.lost[0])
            if reply["lines"]:
                await on_output([Line(data, length) for data, length in reply["lines"]])
            if reply["done"]:
                self.stderr_tail, self.returncode = reply["stderr"], reply["exit_code"]
                return ProcessExit("exited", reply["exit_code"])


class RayExecutor:
    name = "ray"

    def __init__(self, shared_paths: list[Path]) -> None:
        self.shared_paths = shared_paths
        self.host_class = ray.remote(AgentHost)

    def open(self, spec: AgentSpec, grace_s: float) -> AbstractAsyncContextManager[Execution]:
        if not any(spec.cwd.is_relative_to(path) for path in self.shared_paths):
            return open_agent_process(spec, grace_s)  # Ray workers would not find its files
        return self._open_remote(spec, grace_s)

    @asynccontextmanager
    async def _open_remote(self, spec: AgentSpec, grace_s: float) -> AsyncIterator[Execution]:
        options = ACTOR_OPTIONS | {"resources": dict(spec.placement), "name": f"execution-{spec.execution_id}"}
        actor: Any = self.host_class.options(**options).remote()
        try:
            try:
                started = await _call(actor.start.remote({
                    "argv": spec.argv, "cwd": str(spec.cwd), "env": spec.env, "execution_id": spec.execution_id,
                    "grace_s": grace_s, "stdin": spec.stdin}))
            except RayActorError as exc:
                raise SpawnError(f"the Ray worker was lost before the agent started: {_lost_reason(exc)}") from None
            if "error" in started:
                raise SpawnError(started["error"])
            yield RayExecution(actor, started["where"])
        finally:
            with trio.CancelScope(shield=True):
                await _end(actor, grace_s)


async def _call(ref: Any) -> Any:
    return await trio.to_thread.run_sync(ray.get, ref, abandon_on_cancel=True)


async def _end(actor: Any, grace_s: float) -> None:
    """Have the keeper end the tree (returns once it is gone), then the actor; a lost actor's keeper
    ends the tree by itself when its lifeline closes."""
    with trio.move_on_after(grace_s * 2 + KEEPER_EXIT_S * 2):
        try:
            await _call(actor.end.remote(grace_s))
        except RayActorError:
            pass
    await trio.to_thread.run_sync(lambda: ray.kill(actor, no_restart=True))


def _lost_reason(exc: RayActorError) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the Ray worker running it went away ({type(exc).__name__}: {first[:300]})"


@asynccontextmanager
async def open_ray_executor(settings: Settings) -> AsyncIterator[RayExecutor]:
    """Connect to the cluster as its driver for the life of the block."""
    def connect() -> None:
        ray.init(address=settings.ray_address, namespace=settings.ray_namespace, log_to_driver=False,
                 configure_logging=False)

    await trio.to_thread.run_sync(connect)
    log.info("connected to the Ray cluster at %s (namespace %s)", settings.ray_address, settings.ray_namespace)
    try:
        yield RayExecutor(settings.ray_shared_path_list)
    finally:
        await trio.to_thread.run_sync(ray.shutdown)
