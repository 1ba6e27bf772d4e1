"""The terminal client's answers: ``inbox`` (what waits for a person on the hub, ``GET /attention``),
``approve``, ``reject``, ``pick``, ``resume`` (a parked execution, now) and ``dismiss`` (a failed run leaves
the list). A refusal (an unknown execution, a second answer) is the hub's
message on one line, exit 1. (What ``watch`` prints when something starts waiting: answer_hints.py.)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from orchestra.clients.terminal_client import ClientCommand, RemoteHub, add_client_command, request, resolve_project
from orchestra.core.statuses import AttentionKind


def _age(since: float) -> str:
    seconds = max(0.0, time.time() - since)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _answer(item: dict[str, Any]) -> str:
    kind, execution = item["kind"], item.get("execution_id")
    if kind == AttentionKind.PICK:
        return f"orchestra pick {execution} CANDIDATE_EXECUTION"
    if kind in (AttentionKind.GATE, AttentionKind.PLAN_REVIEW):
        return f"orchestra approve {execution}   |   orchestra reject {execution} --comment TEXT"
    if kind == AttentionKind.PARKED:
        at = item.get("resume_at")
        when = time.strftime("%H:%M", time.localtime(at)) if at else "later"
        return f"resumes at {when}; now: orchestra resume {execution}   |   cancel: orchestra cancel {execution}"
    error = f" ({item['error']})" if item.get("error") else ""
    return f"orchestra status {item['run_id']}{error}   |   orchestra dismiss {item['run_id']}"


async def _candidates(hub: RemoteHub, item: dict[str, Any]) -> list[str]:
    page = await request(hub, "GET", f"/executions?run_id={item['run_id']}&node_id={item['node_id']}&limit=100")
    return [e["id"] for e in page["executions"] if e.get("candidate") and e["status"] == "succeeded"]


async def _inbox(hub: RemoteHub, args: argparse.Namespace) -> int:
    path = "/attention"
    if args.project:
        path += f"?project_id={(await resolve_project(hub, args.project))['id']}"
    items: list[dict[str, Any]] = (await request(hub, "GET", path))["items"]
    if not items:
        print("nothing waits for you")
        return 0
    for item in items:
        where = f"{item['project_name']}" + (f" / {item['node_id']}" if item.get("node_id") else "")
        target = item.get("execution_id") or item["run_id"]
        print(f"{item['kind']:<12} {where:<40} {_age(item['since']):>7} ago  {target}")
        print(f"    {_answer(item)}")
        if item["kind"] == AttentionKind.PICK:
            print(f"    candidates that succeeded: {', '.join(await _candidates(hub, item)) or 'none'}")
    return 0


def _decision(comment: str | None, **fields: str) -> dict[str, str]:
    return fields | ({"comment": comment} if comment is not None else {})


async def _approve(hub: RemoteHub, args: argparse.Namespace) -> int:
    reply = await request(hub, "POST", f"/executions/{args.execution}/approve", _decision(args.comment))
    print(f"{args.execution}: approved ({reply['status']})")
    return 0


async def _reject(hub: RemoteHub, args: argparse.Namespace) -> int:
    reply = await request(hub, "POST", f"/executions/{args.execution}/reject", _decision(args.comment))
    print(f"{args.execution}: rejected ({reply['status']})")
    return 0


async def _pick(hub: RemoteHub, args: argparse.Namespace) -> int:
    body = _decision(args.comment, candidate=args.candidate)
    reply = await request(hub, "POST", f"/executions/{args.execution}/approve", body)
    print(f"{args.execution}: picked {args.candidate} ({reply['status']})")
    return 0


async def _resume(hub: RemoteHub, args: argparse.Namespace) -> int:
    reply = await request(hub, "POST", f"/executions/{args.execution}/resume")
    print(f"{args.execution}: {reply['status']}")
    return 0


async def _dismiss(hub: RemoteHub, args: argparse.Namespace) -> int:
    await request(hub, "POST", f"/runs/{args.run_id}/seen")
    print(f"{args.run_id}: dismissed")
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def client(name: str, help_text: str, command: ClientCommand) -> argparse.ArgumentParser:
        return add_client_command(commands, name, help_text, command)

    inbox = client("inbox", "list what waits for a person on the hub: gates, picks, plan reviews, parked "
                   "executions, failed runs", _inbox)
    inbox.add_argument("--project", help="only this project (id or name)")
    for name, verb, command in (("approve", "approve a waiting gate or plan review", _approve),
                                ("reject", "reject a waiting gate, pick or plan review", _reject)):
        parser = client(name, verb, command)
        parser.add_argument("execution", help="the waiting execution (exe_…, as orchestra inbox shows it)")
        parser.add_argument("--comment", help="the decision's comment (a gate's result downstream)")
    pick = client("pick", "pick a candidate at a waiting best-of-N node", _pick)
    pick.add_argument("execution", help="the waiting pick (exe_…)")
    pick.add_argument("candidate", help="the candidate execution chosen (exe_…, one that succeeded)")
    pick.add_argument("--comment", help="why this one")
    resume = client("resume", "resume a parked execution (a usage limit) now instead of at its reset time", _resume)
    resume.add_argument("execution", help="the parked execution (exe_…)")
    dismiss = client("dismiss", "take a failed run off the inbox (it stays in the history)", _dismiss)
    dismiss.add_argument("run_id", metavar="run", help="the failed run (run_…, as orchestra inbox shows it)")
