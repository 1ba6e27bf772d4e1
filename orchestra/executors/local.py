"""The default executor: the agent is a subprocess of the hub (:mod:`orchestra.process`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from orchestra.system.process import AgentProcess, AgentSpec, open_agent_process


class LocalExecutor:
    name = "local"

    def open(self, spec: AgentSpec, grace_s: float) -> AbstractAsyncContextManager[AgentProcess]:
        return open_agent_process(spec, grace_s)
