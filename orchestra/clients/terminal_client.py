"""Terminal client: ``launch``, ``status``, ``cancel`` over REST and ``watch`` over the WebSocket,
so a terminal user never has to hand-write curl. ``watch`` reconnects with ``since`` when the
connection drops, so it misses nothing; ``--until-done`` exits with the run's result.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError, open_websocket_url

from orchestra.clients import known_hubs
from orchestra.clients.printer import Printer, short
from orchestra.clients.status_text import status_text
from orchestra.core.landed import landed_text
from orchestra.core.settings import Settings
from orchestra.core.statuses import (
    FINAL_RUN_STATUSES,
    EventType,
    MessageType,
    RunStatus,
    shown_rank,
)

RECONNECT_MAX_S = 10.0
EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


class ClientError(Exception):
    """Something the user must fix (bad token, unknown project, hub down): printed as one line."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class RemoteHub:
    """The terminal client's connection to a hub (``--hub`` and ``--token``): REST and WebSocket URLs."""

    url: str
    token: str
    source: str = ""  # how this hub was found, when it was this machine's (the files read)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def ws_url(self, project_id: str, since: int | None) -> str:
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = f"{scheme}://{parts.netloc}/ws/subscribe/{project_id}?token={self.token}"
        return url if since is None else f"{url}&since={since}"


async def request(hub: RemoteHub, method: str, path: str, body: Any = None) -> Any:
    response = await send(hub, method, path, json=body)
    return response.json() if response.content else None


async def send(hub: RemoteHub, method: str, path: str, *, check: bool = True, **kwargs: Any) -> httpx.Response:
    """One request; with ``check``, an error answer becomes a :class:`ClientError` with the hub's message."""
    async with hub.http() as http:
        try:
            response = await http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            found = f" ({hub.source})" if hub.source else ""
            raise ClientError(f"cannot reach the hub at {hub.url}{found}: {exc}", EXIT_UNREACHABLE) from None
    if check and response.status_code >= 400:
        raise ClientError(f"{method} {hub.url}{path}: {response.status_code} {error_message(response)}")
    return response


def error_message(response: httpx.Response) -> str:
    try:
        message: str = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    return message


async def resolve_project(hub: RemoteHub, name_or_id: str) -> dict[str, Any]:
    projects: list[dict[str, Any]] = (await request(hub, "GET", "/projects"))["projects"]
    matches = [p for p in projects if name_or_id in (p["id"], p["name"])]
    if len(matches) > 1:  # the matches only: the ids that tell them apart
        listed = ", ".join(f"{p['name']} ({p['id']})" for p in matches)
        raise ClientError(f"project '{name_or_id}' is ambiguous: {len(matches)} projects have that name: {listed}; "
                          "pass its id")
    if not matches:
        known = ", ".join(f"{p['name']} ({p['id']})" for p in projects) or "none"
        raise ClientError(f"project '{name_or_id}' does not exist; projects: {known}")
    return matches[0]


# -- following a project --------------------------------------------------------------------------


async def follow(hub: RemoteHub, project_id: str, printer: Printer, *, until_run: str | None, until_done: bool,
                 launch_nodes: list[str] | None = None, launch: bool = False,
                 launch_inputs: dict[str, str] | None = None) -> int:
    """Print the project's events live; reconnect with ``since`` after a drop.

    With ``until_done``, return when the awaited run finishes (the launched one, the one running
    when we connected, or else the next one): 0 if it succeeded, 1 otherwise.
    """
    since: int | None = None
    delay = 0.2
    awaited = until_run
    while True:
        try:
            async with open_websocket_url(hub.ws_url(project_id, since)) as ws:
                delay = 0.2
                while True:
                    message = json.loads(await ws.get_message())
                    if isinstance(message, dict) and message.get("type") == MessageType.SNAPSHOT:
                        printer.snapshot(message)
                        since = message["seq"]
                        if launch:
                            body: dict[str, Any] = {"project_id": project_id}
                            if launch_nodes:
                                body["node_ids"] = launch_nodes
                            if launch_inputs:
                                body["inputs"] = launch_inputs
                            awaited = (await request(hub, "POST", "/launch", body))["run_id"]
                            launch = False
                        elif until_done and awaited is None:
                            awaited = await _running_run(hub, project_id)
                        continue
                    if isinstance(message, dict) and message.get("type") == MessageType.HEARTBEAT:
                        continue
                    for event in message if isinstance(message, list) else [message]:
                        since = event["seq"]
                        printer.event(event)
                        finished = event["type"] == EventType.RUN_FINISHED
                        if until_done and finished and awaited in (None, event["run_id"]):
                            return 0 if event["run"]["status"] == RunStatus.SUCCEEDED else EXIT_FAILED
        except ConnectionRejected as exc:
            raise ClientError(f"the hub at {hub.url} refused the subscription ({exc.status_code}): check the token"
                              ) from None
        except ConnectionClosed as exc:
            code, reason = (exc.reason.code, exc.reason.reason) if exc.reason is not None else (None, None)
            if code == 4404:
                raise ClientError(reason or f"project '{project_id}' does not exist") from None
            if code in (4400, 1008):
                raise ClientError(f"the hub at {hub.url}: {reason or 'refused the subscription'}") from None
            printer.line(None, None, f"(connection closed: {code} {reason or ''}; reconnecting)")
        except (HandshakeError, OSError) as exc:
            printer.line(None, None, f"(hub at {hub.url} unreachable: {exc}; retrying in {delay:.1f} s)")
        await trio.sleep(delay)
        delay = min(RECONNECT_MAX_S, delay * 2)


async def _running_run(hub: RemoteHub, project_id: str) -> str | None:
    runs = (await request(hub, "GET", f"/runs?project_id={project_id}&limit=1"))["runs"]
    if runs and runs[0]["status"] not in FINAL_RUN_STATUSES:
        run_id: str = runs[0]["id"]
        return run_id
    return None


# -- subcommands ----------------------------------------------------------------------------------


async def _watch(hub: RemoteHub, args: argparse.Namespace) -> int:
    project = await resolve_project(hub, args.project)
    printer = Printer(verbose=args.verbose)
    return await follow(hub, project["id"], printer, until_run=None, until_done=args.until_done)


def _inputs(assignments: list[str] | None) -> dict[str, str]:
    """``--set NAME=value`` options as the launch's inputs (the value may hold '=' and be empty)."""
    inputs = {}
    for assignment in assignments or []:
        name, equals, value = assignment.partition("=")
        if not equals or not name:
            raise ClientError(f"--set takes NAME=value, not '{assignment}'", EXIT_USAGE)
        inputs[name] = value
    return inputs


async def _launch(hub: RemoteHub, args: argparse.Namespace) -> int:
    inputs = _inputs(args.set)
    project = await resolve_project(hub, args.project)
    if args.watch or args.until_done:
        printer = Printer(verbose=args.verbose)
        return await follow(hub, project["id"], printer, until_run=None, until_done=args.until_done,
                            launch_nodes=args.node, launch=True, launch_inputs=inputs)
    body: dict[str, Any] = {"project_id": project["id"]}
    if args.node:
        body["node_ids"] = args.node
    if inputs:
        body["inputs"] = inputs
    launched = await request(hub, "POST", "/launch", body)
    print(f"run {launched['run_id']} launched: {len(launched['executions'])} execution(s)")
    return 0


async def _status(hub: RemoteHub, args: argparse.Namespace) -> int:
    if args.target.startswith("run_"):
        run = await request(hub, "GET", f"/runs/{args.target}")
        print(f"run {run['id']} {run['status']}" + (f": {run['error']}" if run.get("error") else ""))
        if run.get("trigger"):  # a webhook or a schedule launched it
            details = ", ".join(f"{key} {value}" for key, value in run["trigger"].items()
                                if key != "kind" and value is not None)
            print(f"  triggered by {run['trigger']['kind']}" + (f": {details}" if details else ""))
        for name, value in (run.get("inputs") or {}).items():
            print(f"  input {name} = {short(value)}")
        if run.get("landed"):
            print(f"  landed: {landed_text(run['landed'])}")
        for e in run["executions"]:
            print(f"  {e['node_id']:<24} {status_text(e):<12} attempt {e['attempt']}  {e['id']}")
        return 0
    project = await resolve_project(hub, args.target)
    nodes = (await request(hub, "GET", f"/projects/{project['id']}/nodes"))["nodes"]
    latest: dict[str, dict[str, Any]] = {}
    for e in (await request(hub, "GET", f"/executions?project_id={project['id']}&limit=500"))["executions"]:
        # newest first: a node shows its newest execution unless an older run still has it at work
        shown = latest.get(e["node_id"])
        if shown is None or shown_rank(e["status"]) < shown_rank(shown["status"]):
            latest[e["node_id"]] = e
    last, running = project.get("last_run"), project.get("running_runs") or []
    print(f"project {project['name']} ({project['id']}): {project['state']}"
          + (f", {len(running)} runs in progress ({', '.join(running)})" if len(running) > 1 else
             f", run {running[0]} in progress" if running else "")
          + (f", last run {last['id']} {last['status']}" if last else ""))
    for node in nodes:
        execution = latest.get(node["id"])
        status = status_text(execution) if execution else "never run"
        after = f"  after {', '.join(node['depends_on'])}" if node["depends_on"] else ""
        print(f"  {node['id']:<24} {status:<12}{after}")
    return 0


async def _land(hub: RemoteHub, args: argparse.Namespace) -> int:
    run = await request(hub, "POST", f"/runs/{args.run_id}/land")
    print(f"run {run['id']} landed: {landed_text(run['landed'])}")
    return 0


async def _cancel(hub: RemoteHub, args: argparse.Namespace) -> int:
    kind = "runs" if args.target.startswith("run_") else "executions"
    reply = await request(hub, "POST", f"/{kind}/{args.target}/cancel")
    print(f"{args.target}: {reply['status']}")
    return 0


async def _export(hub: RemoteHub, args: argparse.Namespace) -> int:
    project = await resolve_project(hub, args.project)
    sys.stdout.write((await send(hub, "GET", f"/projects/{project['id']}/flow")).text)
    return 0


async def _apply(hub: RemoteHub, args: argparse.Namespace) -> int:
    try:
        content = await trio.Path(args.file).read_bytes()
    except OSError as exc:
        raise ClientError(f"cannot read {args.file}: {exc.strerror}") from None
    params = {"dry_run": "true"} if args.dry_run else {}
    if args.project:
        params["project_id"] = (await resolve_project(hub, args.project))["id"]
    response = await send(hub, "POST", "/flows/apply", check=False, content=content, params=params,
                          headers={"Content-Type": "application/toml"})
    if response.status_code >= 400:  # the hub's message names the line and the field: say which file
        message = error_message(response)
        raise ClientError(f"{args.file} {message.removeprefix('flow file ')}" if message.startswith("flow file ")
                          else f"{args.file}: {message}")
    result = response.json()
    for line in result["diff"]:
        print(line)
    project = result["project_id"]
    if not result["changed"]:
        print(f"no changes: project {project} already matches {args.file}")
    elif args.dry_run:
        print(f"dry run: applying {args.file} would make {len(result['diff'])} change(s) to project {project}")
    else:
        print(f"applied {args.file} to project {project}: {len(result['diff'])} change(s)")
    return 0


def _hub_from(args: argparse.Namespace, settings: Settings) -> RemoteHub:
    try:
        resolved = known_hubs.resolve(args.hub, args.token, settings)
    except known_hubs.HubNotFound as exc:
        raise ClientError(str(exc), EXIT_USAGE) from None
    return RemoteHub(resolved.url, resolved.token, resolved.source)


ClientCommand = Callable[[RemoteHub, argparse.Namespace], Awaitable[int]]


def _runner(command: ClientCommand) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            hub = _hub_from(args, settings)
            return trio.run(command, hub, args)
        except ClientError as exc:
            print(f"orchestra: {exc}", file=sys.stderr)
            return exc.code
        except KeyboardInterrupt:
            return 130

    return run


def add_client_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str,
                       command: ClientCommand) -> argparse.ArgumentParser:
    """A subcommand that talks to a hub (``--hub``, ``--token``) and runs ``command`` (also clients/inbox.py's)."""
    parser = commands.add_parser(name, help=help_text)
    parser.add_argument("--hub", metavar="NAME|URL",
                        help="a saved hub's name (orchestra hubs) or a URL (default: ORCHESTRA_URL, else this "
                        "machine's hub, else the only saved hub)")
    parser.add_argument("--token", help="API token (default: ORCHESTRA_TOKEN, else the saved hub's, else the "
                        "token file)")
    parser.set_defaults(run=_runner(command))
    return parser


def add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def client(name: str, help_text: str, command: ClientCommand) -> argparse.ArgumentParser:
        return add_client_command(commands, name, help_text, command)

    watch = client("watch", "follow a project's events live", _watch)
    watch.add_argument("project", help="project id or name")
    watch.add_argument("--until-done", action="store_true", help="exit when the run finishes (0 = succeeded)")
    watch.add_argument("-v", "--verbose", action="store_true", help="also show thinking, system and raw events")

    launch = client("launch", "launch a project's DAG (or some nodes and their downstream)", _launch)
    launch.add_argument("project", help="project id or name")
    launch.add_argument("--node", action="append", help="launch this node and its downstream (repeatable)")
    launch.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="the value of {{inputs.NAME}} in the prompts (repeatable)")
    launch.add_argument("--watch", action="store_true", help="follow the run's events")
    launch.add_argument("--until-done", action="store_true", help="follow the run and exit with its result")
    launch.add_argument("-v", "--verbose", action="store_true", help="also show thinking, system and raw events")

    status = client("status", "show a project's nodes and their latest status, or one run", _status)
    status.add_argument("target", help="project id or name, or a run id (run_…)")

    land = client("land", "land a finished run's work as its project's land node says (merge, push, pull request)",
                  _land)
    land.add_argument("run_id", metavar="RUN", help="run id (run_…)")

    cancel = client("cancel", "cancel a run (run_…) or one execution (exe_…)", _cancel)
    cancel.add_argument("target", help="run id or execution id")

    export = client("export", "print a project's flow file (TOML: nodes, edges, templates, gates, budgets)",
                    _export)
    export.add_argument("project", help="project id or name")

    apply = client("apply", "make a project match a flow file (the project of its name, created if none)", _apply)
    apply.add_argument("file", help="the flow file (TOML, as export writes it)")
    apply.add_argument("--project", help="apply to this project (id or name) instead of the one the file names")
    apply.add_argument("--dry-run", action="store_true", help="only print what would change")
