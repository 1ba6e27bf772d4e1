"""``orchestra mcp`` as a real subprocess, driven by the official MCP SDK's stdio client against a real hub
(list tools, launch, read status, approve a gate, a refusal as an MCP error with the hub's message);
and the real Claude Code CLI's ``claude mcp list`` shows the server connected."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import TOKEN, WAIT_S, LiveHub
from hubproc import ENTRY
from test_attention import kinds, wait_attention
from test_real_clis import CLI_DIR

pytest.importorskip("mcp")
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

TOOLS = {"projects", "nodes", "launch", "run_status", "attention", "approve", "reject", "pick", "resume", "dismiss",
         "execution_output", "export_flow", "apply_flow"}


def server_params(hub: LiveHub, cwd: Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(ENTRY), "mcp", "--hub", hub.url, "--token", TOKEN],
                                 cwd=str(cwd), env={"PATH": os.environ["PATH"], "HOME": str(cwd)})


def result_of(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if isinstance(content, dict) and set(content) == {"result"} else content
    return result.content[0].text


async def test_the_sdk_client_lists_tools_launches_reads_status_and_approves_a_gate(
        hub: LiveHub, tmp_path: Path) -> None:
    project = await hub.create_project(name="release")
    pid = project["id"]
    await hub.create_node(pid, id="build", prompt="build it")
    await hub.create_node(pid, id="approve-release", kind="gate", agent=None, title="Release?", depends_on=["build"])
    await hub.create_node(pid, id="ship", depends_on=["approve-release"])
    with trio.fail_after(WAIT_S * 2):
        async with stdio_client(server_params(hub, tmp_path)) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert tools >= TOOLS, tools
            listed = result_of(await session.call_tool("projects", {}))
            assert [p["name"] for p in listed["projects"]] == ["release"]
            launched = result_of(await session.call_tool("launch", {"project": "release"}))
            run_id = launched["run_id"]
            gate = kinds(await wait_attention(hub, lambda items: "gate" in kinds(items)))["gate"]
            status = result_of(await session.call_tool("run_status", {"run_id": run_id}))
            assert status["status"] == "running"
            assert {e["node_id"]: e["status"] for e in status["executions"]} == {
                "build": "succeeded", "approve-release": "waiting", "ship": "queued"}
            waiting = result_of(await session.call_tool("attention", {}))
            assert [(i["kind"], i["execution_id"]) for i in waiting["items"]] == [("gate", gate["execution_id"])]
            output = result_of(await session.call_tool("execution_output", {
                "execution_id": status["executions"][0]["id"]}))
            assert output.startswith("build succeeded") and "Done" in output

            approved = result_of(await session.call_tool("approve", {"execution_id": gate["execution_id"],
                                                                     "comment": "ship it"}))
            assert approved == {"execution_id": gate["execution_id"], "status": "succeeded"}
            assert (await hub.wait_run(run_id))["status"] == "succeeded"
            final = result_of(await session.call_tool("run_status", {"run_id": run_id}))
            assert final["status"] == "succeeded"

            # Refusals come back as MCP errors with the hub's message, and change nothing.
            again = await session.call_tool("approve", {"execution_id": gate["execution_id"]})
            assert again.is_error
            assert f"execution '{gate['execution_id']}' is not a gate waiting for a decision" in again.content[0].text
            unknown = await session.call_tool("nodes", {"project": "nope"})
            assert unknown.is_error and "project 'nope' does not exist" in unknown.content[0].text
            not_parked = await session.call_tool("resume", {"execution_id": gate["execution_id"]})
            assert not_parked.is_error
            assert f"execution '{gate['execution_id']}' is not parked" in not_parked.content[0].text
            finished = result_of(await session.call_tool("dismiss", {"run_id": run_id}))
            assert finished["run_id"] == run_id and finished["seen_at"] > 0
            flow = result_of(await session.call_tool("export_flow", {"project": "release"}))
            assert "approve-release" in flow
            dry = result_of(await session.call_tool("apply_flow", {"flow_toml": flow, "dry_run": True}))
            assert dry["changed"] is False


async def test_claude_code_lists_the_server_as_connected(hub: LiveHub, tmp_path: Path) -> None:
    claude = CLI_DIR / "claude"
    if not os.access(claude, os.X_OK) or shutil.which("node") is None:
        pytest.skip(f"the real Claude Code CLI is not installed at {claude}: bash .ci/install-agent-clis.sh")
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "project").mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
           "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    # The way the README says to add it: claude mcp add.
    with trio.fail_after(120):
        added = await trio.run_process([str(claude), "mcp", "add", "-s", "user", "orchestra-user", "--", sys.executable,
                                        str(ENTRY), "mcp", "--hub", hub.url, "--token", TOKEN],
                                       cwd=str(tmp_path / "project"), env=env, capture_stdout=True,
                                       capture_stderr=True, check=False)
        assert added.returncode == 0, added.stderr.decode()
        listed = await trio.run_process([str(claude), "mcp", "list"], cwd=str(tmp_path / "project"), env=env,
                                        capture_stdout=True, capture_stderr=True, check=False)
    out = listed.stdout.decode()
    assert listed.returncode == 0, (out, listed.stderr.decode())
    line = next(line for line in out.splitlines() if line.startswith("orchestra-user"))
    assert "Connected" in line, out
