"""``orchestra mcp``: the hub as an MCP server over stdio, so that any MCP client (Claude Code on a laptop:
``claude mcp add orchestra -- orchestra mcp --hub vm``) can list projects and nodes, launch, follow a run,
see what waits for a person and answer it, read the tail of an execution's output, and export or apply
a flow.

It is a client of the hub's REST API like the terminal client (the same known-hubs settings and
``--hub``/``--token``), built on the official MCP Python SDK, which runs on asyncio (anyio): it lives
here, in its own process, never in the hub's. A refusal from the hub comes back as an MCP tool error
carrying the hub's message (``ToolError``: ``is_error`` with the text), never as a crash.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

from orchestra.clients.printer import Printer
from orchestra.clients.terminal_client import ClientError, RemoteHub, request, resolve_project, send
from orchestra.core.settings import Settings

INSTRUCTIONS = """Orchestra runs coding-agent CLIs (Claude Code, Codex, Gemini) as a DAG of nodes on a hub.
Launch a project, follow its run with run_status, and check attention for what waits for a person
(gates to approve or reject, candidates to pick, plan reviews, parked executions, failed runs)."""


def build_server(hub: RemoteHub) -> Any:
    """The MCP server with one tool per hub action (imported lazily: the mcp extra)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("orchestra", instructions=INSTRUCTIONS)

    async def call(method: str, path: str, body: Any = None) -> Any:
        try:
            return await request(hub, method, path, body)
        except ClientError as exc:
            raise ToolError(str(exc)) from None

    async def project_id(project: str) -> str:
        try:
            found: str = (await resolve_project(hub, project))["id"]
        except ClientError as exc:
            raise ToolError(str(exc)) from None
        return found

    @server.tool()
    async def projects() -> dict[str, Any]:
        """Every project on the hub: id, name, state (running, failed, idle), last run, node count."""
        listed = (await call("GET", "/projects"))["projects"]
        return {"projects": [{key: p.get(key) for key in ("id", "name", "state", "last_run", "node_count",
                                                           "workspace")} for p in listed]}

    @server.tool()
    async def nodes(project: str) -> dict[str, Any]:
        """A project's nodes (project: its id or name): id, title, kind, agent, depends_on, prompt."""
        listed = (await call("GET", f"/projects/{await project_id(project)}/nodes"))["nodes"]
        return {"nodes": [{key: n.get(key) for key in ("id", "title", "kind", "agent", "depends_on", "prompt")}
                          for n in listed]}

    @server.tool()
    async def launch(project: str, node_ids: list[str] | None = None,
                     inputs: dict[str, str] | None = None) -> dict[str, Any]:
        """Launch a project's DAG (or node_ids and what is below them); returns the run id and its executions."""
        body: dict[str, Any] = {"project_id": await project_id(project)}
        if node_ids:
            body["node_ids"] = node_ids
        if inputs:
            body["inputs"] = inputs
        launched: dict[str, Any] = await call("POST", "/launch", body)
        return launched

    @server.tool()
    async def run_status(run_id: str) -> dict[str, Any]:
        """A run's status, error, cost, and each execution's node, status, id and error."""
        run = await call("GET", f"/runs/{run_id}")
        return {"id": run["id"], "project_id": run["project_id"], "status": run["status"], "error": run.get("error"),
                "totals": run.get("totals"),
                "executions": [{key: e.get(key) for key in ("id", "node_id", "status", "agent", "error", "attempt")}
                               for e in run["executions"]]}

    @server.tool()
    async def attention(project: str | None = None) -> dict[str, Any]:
        """What waits for a person, across projects (or one): gates, picks, plan reviews, parked executions,
        failed runs. Answer gates and reviews with approve/reject, picks with pick, parked executions with
        resume, failed runs with dismiss."""
        path = "/attention" + (f"?project_id={await project_id(project)}" if project else "")
        items: dict[str, Any] = await call("GET", path)
        return items

    @server.tool()
    async def approve(execution_id: str, comment: str | None = None) -> dict[str, Any]:
        """Approve a waiting gate or plan review (execution_id from attention)."""
        reply: dict[str, Any] = await call("POST", f"/executions/{execution_id}/approve",
                                           {"comment": comment} if comment else {})
        return reply

    @server.tool()
    async def reject(execution_id: str, comment: str | None = None) -> dict[str, Any]:
        """Reject a waiting gate, pick or plan review; what depends on it is skipped."""
        reply: dict[str, Any] = await call("POST", f"/executions/{execution_id}/reject",
                                           {"comment": comment} if comment else {})
        return reply

    @server.tool()
    async def pick(execution_id: str, candidate_execution_id: str, comment: str | None = None) -> dict[str, Any]:
        """Pick a candidate (one that succeeded) at a waiting best-of-N node."""
        body: dict[str, Any] = {"candidate": candidate_execution_id} | ({"comment": comment} if comment else {})
        reply: dict[str, Any] = await call("POST", f"/executions/{execution_id}/approve", body)
        return reply

    @server.tool()
    async def resume(execution_id: str) -> dict[str, Any]:
        """Resume an execution parked at a usage limit now, instead of at its reset time."""
        reply: dict[str, Any] = await call("POST", f"/executions/{execution_id}/resume")
        return reply

    @server.tool()
    async def dismiss(run_id: str) -> dict[str, Any]:
        """Take a failed run off the attention list (it stays in the history)."""
        reply: dict[str, Any] = await call("POST", f"/runs/{run_id}/seen")
        return reply

    @server.tool()
    async def execution_output(execution_id: str, lines: int = 50) -> str:
        """The last events of an execution (agent text, tool calls, errors) as readable lines, and its status."""
        execution = await call("GET", f"/executions/{execution_id}")
        events = (await call("GET", f"/executions/{execution_id}/events?tail={max(1, min(lines, 1000))}"))["events"]
        out = io.StringIO()
        printer = Printer(out=out)
        for event in events:
            printer.event(event)
        header = f"{execution['node_id']} {execution['status']}" + (
            f": {execution['error']}" if execution.get("error") else "")
        result = f"\nresult: {execution['result_text']}" if execution.get("result_text") else ""
        return f"{header}\n{out.getvalue()}{result}"

    @server.tool()
    async def export_flow(project: str) -> str:
        """A project's flow file (TOML: nodes, edges, templates, gates, budgets)."""
        try:
            return (await send(hub, "GET", f"/projects/{await project_id(project)}/flow")).text
        except ClientError as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    async def apply_flow(flow_toml: str, project: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        """Make a project match a flow file (TOML as export_flow gives it); dry_run only says what would change."""
        params: dict[str, str] = {"dry_run": "true"} if dry_run else {}
        if project:
            params["project_id"] = await project_id(project)
        try:
            response = await send(hub, "POST", "/flows/apply", content=flow_toml.encode(), params=params,
                                  headers={"Content-Type": "application/toml"})
        except ClientError as exc:
            raise ToolError(str(exc)) from None
        applied: dict[str, Any] = response.json()
        return applied

    return server


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("mcp", help="serve the hub to an MCP client over stdio (claude mcp add orchestra "
                                 "-- orchestra mcp --hub NAME)")
    parser.add_argument("--hub", metavar="NAME|URL", help="a saved hub's name (orchestra hubs) or a URL (default: "
                        "ORCHESTRA_URL, else this machine's hub, else the only saved hub)")
    parser.add_argument("--token", help="API token (default: ORCHESTRA_TOKEN, else the saved hub's, else the token "
                        "file)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from orchestra.clients import known_hubs

    try:
        resolved = known_hubs.resolve(args.hub, args.token, settings)
    except known_hubs.HubNotFound as exc:
        print(f"orchestra: {exc}", file=sys.stderr)
        return 2
    try:
        server = build_server(RemoteHub(resolved.url, resolved.token))
    except ImportError:
        print("orchestra: the MCP server needs the mcp extra: pip install 'orchestra-hub[mcp]'", file=sys.stderr)
        return 2
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        return 130
    return 0
