"""Landing a run's work: what a land node does (``kind: "land"``), and ``POST /runs/{id}/land``.

A land node runs no agent. Once its upstream nodes succeeded it takes their work (the commits of its
upstream nodes; through a gate, the gate's own upstream), combines them into one result commit, and
lands it as its ``land`` settings say (:class:`orchestra.core.models.LandSettings`):

- ``merge``: into the base branch (default: the branch checked out in the workspace), fast-forward when
  possible, else a merge commit listing the run's nodes (:mod:`orchestra.workspaces.landing`);
- ``push``: the result to ``remote`` (default ``origin``) as ``branch`` (default ``orchestra/<project>/<run>``);
- ``pull_request``: push, then open (or, landing again, update) a pull request of that branch into ``base``
  on its ``forge`` (GitHub by default, GitLab — a merge request — or Gitea), titled and described from the
  run (:mod:`orchestra.workspaces.pull_requests`).

The run records how it landed (``landed``). Refusals come before anything changes: a base checkout with
uncommitted changes, a missing remote, base branch or token. A merge that conflicts is repaired by the agent
whose work conflicts (:mod:`orchestra.runtime.merge_repairs`) when the land node allows ``max_repairs``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.core.errors import ApiError, Conflict, Unprocessable
from orchestra.core.rows import Landed, Node, Project, Run
from orchestra.core.settings import Settings
from orchestra.core.statuses import ExecutionStatus, NodeKind, RunStatus
from orchestra.storage import history, store, transitions
from orchestra.storage.db import Database
from orchestra.workspaces import landing, pull_requests
from orchestra.workspaces.git_checkpoints import GitError, Repository, find_repository

RESULT_PREVIEW_CHARS = 600  # of each node's result, in a pull request's body


@dataclass(frozen=True)
class Target:
    """A land node's settings with their defaults filled in and checked against the repository."""

    mode: str
    base: str | None
    remote: str
    branch: str
    forge: str | None = None  # pull_request: "github", "gitlab" or "gitea"


@dataclass(frozen=True)
class Step:
    """One node of the run, as a pull request's body lists it."""

    node_id: str
    title: str
    result: str
    checked: bool  # it has a check, which passed


@dataclass(frozen=True)
class Description:
    title: str
    body: str
    merge_message: str


async def resolve(repo: Repository, land: dict[str, Any], project_id: str, run_id: str,
                  settings: Settings) -> Target:
    """The target; LandingMisconfigured when the repository lacks what it names, or the hub lacks the
    forge's token (or, for Gitea, its API's URL)."""
    mode = land["mode"]
    base = land.get("base") or await landing.current_branch(repo.path)
    if base is None and mode != "push":
        raise landing.LandingMisconfigured("the workspace's HEAD is detached: name the branch to land on in "
                                           "the land node's 'base'")
    if mode == "merge":
        assert base is not None
        await landing.branch_tip(repo.path, base)
    branch = land.get("branch") or f"orchestra/{project_id}/{run_id}"
    remote = land.get("remote") or landing.DEFAULT_REMOTE
    if mode != "merge":
        await landing.check_branch_name(repo.path, branch)
        await landing.remote_url(repo.path, remote)
    forge = None
    if mode == "pull_request":
        forge = pull_requests.access(settings, land.get("forge")).forge
    return Target(mode, base, remote, branch, forge)


async def preflight(repo: Repository, target: Target) -> None:
    """Refuse, before anything changes, a merge into a base checkout that has uncommitted changes."""
    if target.mode == "merge" and target.base is not None:
        checkout = await landing.base_checkout(repo, target.base)
        if checkout is not None:
            await landing.refuse_dirty(checkout, target.base)


def upstream_commits(node: Node, nodes: dict[str, Node], commits: dict[str, str]) -> list[tuple[str, str]]:
    """(node id, commit) of the work a node lands: each upstream node's, through nodes that left none (a gate)."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    stack = list(reversed(node["depends_on"]))
    while stack:
        up = stack.pop()
        if up in seen:
            continue
        seen.add(up)
        if up in commits:
            found[up] = commits[up]
        elif up in nodes:
            stack.extend(reversed(nodes[up]["depends_on"]))
    return list(found.items())


async def land(repo: Repository, target: Target, commit: str, description: Description,
               settings: Settings) -> Landed:
    """Land ``commit``; GitError or PullRequestError (with the remote's message, no token) when it cannot."""
    now = time.time()
    if target.mode == "merge":
        assert target.base is not None
        merged = await landing.merge_into_base(repo, commit, target.base, description.merge_message)
        return {"mode": target.mode, "commit": merged.commit, "base": target.base, "landed_at": now}
    forge = pull_requests.access(settings, target.forge) if target.mode == "pull_request" else None
    pushed = await landing.push(repo, commit, target.remote, target.branch, settings.forge_tokens)
    landed: Landed = {"mode": target.mode, "branch": pushed.branch, "commit": pushed.commit, "landed_at": now}
    if forge is not None:
        assert target.base is not None
        remote_url = await landing.remote_url(repo.path, target.remote)
        repository = pull_requests.repository_path(remote_url, forge.forge, forge.api)
        pull = await pull_requests.open_or_update(forge, repository, target.branch, target.base,
                                                  description.title, description.body)
        landed |= {"base": target.base, "url": pull.url, "number": pull.number, "forge": forge.forge}
    return landed


def describe(project: Project, run_id: str, steps: list[Step], cost_usd: float | None, duration_s: float | None,
             settings: Settings) -> Description:
    """A pull (merge) request's title and body, and a merge commit's message, from the run."""
    titles = [step.title for step in steps]
    title = f"{project['name']}: {titles[-1] if titles else 'run ' + run_id}"[:200]
    link = f"{settings.ui_link_base}#project={project['id']}&run={run_id}"  # ORCHESTRA_UI_URL, else the tunnel's
    lines = [f"Landed by Orchestra from run [{run_id}]({link}) of project **{project['name']}**.", "",
             "| node | result | check |", "|---|---|---|"]
    for step in steps:
        result = " ".join(step.result.split())[:RESULT_PREVIEW_CHARS].replace("|", "\\|") or "—"
        lines.append(f"| {step.title} (`{step.node_id}`) | {result} | {'passed' if step.checked else '—'} |")
    duration = f"{duration_s:.0f} s" if duration_s is not None else "—"
    cost = f"${cost_usd:.4f}" if cost_usd is not None else "—"  # None: no agent reported a cost
    lines += ["", f"Cost: {cost} · duration: {duration}"]
    message = "\n".join([f"orchestra: land run {run_id} of {project['name']}", "",
                         *(f"- {step.title} ({step.node_id})" for step in steps)])
    return Description(title, "\n".join(lines), message)


def as_api_error(exc: Exception) -> ApiError:
    """How a landing's failure answers ``POST /runs/{id}/land``: misconfiguration 422, the rest 409."""
    if isinstance(exc, landing.LandingMisconfigured):
        return Unprocessable(str(exc))
    if isinstance(exc, landing.BaseConflict):
        return Conflict(f"{exc}: repair it by launching the run again (its land node's repair turns "
                        "resolve conflicts), or merge by hand", {"files": exc.files})
    if isinstance(exc, landing.LandingRefused):
        return Conflict(str(exc))
    return Conflict(f"the landing failed: {exc}; the result branch is left in place, land again to retry")


# -- POST /runs/{id}/land ----------------------------------------------------------------------------

def _latest_by_node(run: Run) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for execution in run.get("executions", []):
        latest[execution["node_id"]] = dict(execution)  # ordered by num: the last one wins
    return latest


def _landable(run: Run, nodes: dict[str, Node]) -> dict[str, dict[str, Any]]:
    """The run's latest execution per node, when every node but land nodes succeeded; else Conflict."""
    if run["status"] == RunStatus.RUNNING:
        raise Conflict(f"run '{run['id']}' is still running; land it once it has finished")
    if run["status"] == RunStatus.CANCELLED:
        raise Conflict(f"run '{run['id']}' was cancelled; only a run whose work succeeded is landed")
    latest = _latest_by_node(run)
    failed = sorted(n for n, e in latest.items() if e["status"] != ExecutionStatus.SUCCEEDED
                    and (n not in nodes or nodes[n]["kind"] != NodeKind.LAND))
    if failed:
        raise Conflict(f"run '{run['id']}' did not succeed (node(s) {', '.join(failed)}); only a run whose work "
                       "succeeded is landed", {"nodes": failed})
    return latest


async def land_finished_run(db: Database, settings: Settings, worktrees_root: Path, run_id: str) -> Run:
    """Land a finished run's work with its project's land node; the run, with ``landed``."""
    run = await db.read(lambda d: history.get_run(d, run_id))
    project_id = run["project_id"]
    project = await db.read(lambda d: store.get_project(d, project_id))
    nodes = {n["id"]: n for n in await db.read(lambda d: store.list_nodes(d, project_id))}
    land_nodes = [n for n in nodes.values() if n["kind"] == NodeKind.LAND]
    if not land_nodes:
        raise Conflict(f"project '{project_id}' has no land node: add a node of kind 'land' to say how its "
                       "runs land")
    latest = _landable(run, nodes)
    node = land_nodes[0]
    try:
        repo = await find_repository(Path(project["workspace"]), worktrees_root)
        if repo is None:
            raise Conflict(f"the workspace of project '{project_id}' is not a git repository: nothing to land")
        commits = {n: e["commit_sha"] for n, e in latest.items() if e["commit_sha"] and n in nodes
                   and nodes[n]["kind"] != NodeKind.LAND}
        ups = upstream_commits(node, nodes, commits)
        if not ups:
            raise Conflict(f"run '{run_id}' left no commit upstream of land node '{node['id']}': nothing to land")
        target = await resolve(repo, node["land"] or {}, project_id, run_id, settings)
        await preflight(repo, target)
        steps = [Step(n, nodes[n]["title"], latest[n]["result_text"] or "", bool(nodes[n]["check"]))
                 for n in latest if n in nodes and nodes[n]["kind"] not in (NodeKind.LAND, NodeKind.GATE)]
        duration = run["finished_at"] - run["started_at"] if run["finished_at"] and run["started_at"] else None
        description = describe(project, run_id, steps, run["totals"]["cost_usd"], duration, settings)
        commit = await combine(repo, [c for _, c in ups], description.merge_message)
        landed = await land(repo, target, commit, description, settings)
    except (GitError, pull_requests.PullRequestError) as exc:
        raise as_api_error(exc) from None
    await db.write(lambda tx: transitions.record_landed(tx, project_id, run_id, dict(landed)))
    return await db.read(lambda d: history.get_run(d, run_id))


async def combine(repo: Repository, commits: list[str], message: str) -> str:
    """One commit holding every upstream's work; BaseConflict when two of them conflict."""
    result = commits[0]
    for other in commits[1:]:
        if await landing.is_ancestor(repo.path, other, result):
            continue
        if await landing.is_ancestor(repo.path, result, other):
            result = other
            continue
        result = await landing.merge_commit(repo.path, result, other, message)
    return result
