"""``/executions``: what ran, its stored agent events, and cancelling one."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from quart import Blueprint, Response, request

from orchestra.api.common import encode, json_response, parse_body, query_int, raw_json_response
from orchestra.core.errors import Conflict, NotFound
from orchestra.core.models import FollowUpRequest, GateDecision
from orchestra.runtime import commands
from orchestra.runtime.hub import Hub
from orchestra.storage import history, store
from orchestra.workspaces import git_checkpoints


async def _decision() -> GateDecision:
    """Approve and reject take an optional ``{"comment": …}``; an empty body is fine."""
    if not (await request.get_data(cache=True)).strip():
        return GateDecision()
    return await parse_body(GateDecision)


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("executions", __name__)

    @routes.get("/executions")
    async def list_executions() -> Response:
        filters = {name: request.args.get(name, "") for name in ("project_id", "node_id", "run_id", "status")}
        limit = query_int("limit", 50, low=1, high=500)
        assert limit is not None
        before = request.args.get("before") or None
        def page(db: sqlite_utils.Database) -> str:  # encoded in the worker thread, off the event loop
            rows, next_before = history.list_executions(db, filters, limit, before)
            return encode({"executions": rows, "next_before": next_before})

        return raw_json_response(await hub.db.read(page))

    @routes.get("/executions/<execution_id>")
    async def get_execution(execution_id: str) -> Response:
        return json_response(await hub.db.read(lambda db: history.get_execution(db, execution_id)))

    @routes.get("/executions/<execution_id>/events")
    async def execution_events(execution_id: str) -> Response:
        after = query_int("after", 0, low=0, high=2**62)
        limit = query_int("limit", 1000, low=1, high=10_000)
        tail = query_int("tail", None, low=1, high=10_000)
        assert after is not None and limit is not None
        bodies = await hub.db.read(
            lambda db: history.execution_events(db, execution_id, after, tail or limit, tail=tail is not None))
        # Stored events are already JSON: splice them in rather than decode and encode again.
        next_after = "null"
        if len(bodies) == limit and tail is None:
            next_after = str(_seq_of(bodies[-1]))
        text = '{"events":[' + ",".join(bodies) + '],"next_after":' + next_after + "}"
        return raw_json_response(text)

    @routes.post("/executions/<execution_id>/cancel")
    async def cancel_execution(execution_id: str) -> Response:
        return json_response(await hub.cancel_execution(execution_id), 202)

    @routes.post("/executions/<execution_id>/resume")
    async def resume(execution_id: str) -> Response:
        """A parked execution (a usage limit) goes on now instead of at its ``resume_at``."""
        return json_response(await hub.execution_command(commands.ResumeExecution(execution_id)), 202)

    @routes.post("/executions/<execution_id>/follow-up")
    async def follow_up(execution_id: str) -> Response:
        body = await parse_body(FollowUpRequest)
        return json_response(await hub.execution_command(commands.FollowUp(execution_id, body.prompt)), 202)

    @routes.post("/executions/<execution_id>/approve")
    async def approve(execution_id: str) -> Response:
        body = await _decision()
        decide = commands.Decide(execution_id, approve=True, comment=body.comment, candidate=body.candidate,
                                 plan=body.plan)
        return json_response(await hub.execution_command(decide))

    @routes.post("/executions/<execution_id>/reject")
    async def reject(execution_id: str) -> Response:
        body = await _decision()
        decide = commands.Decide(execution_id, approve=False, comment=body.comment, candidate=body.candidate,
                                 plan=body.plan)
        return json_response(await hub.execution_command(decide))

    @routes.get("/executions/<execution_id>/diff")
    async def diff(execution_id: str) -> Response:
        execution = await hub.db.read(lambda db: history.get_execution(db, execution_id))
        if not execution["base_commit"] or not execution["commit_sha"]:
            raise NotFound(f"execution '{execution_id}' has no git checkpoint (its workspace is not a git "
                           "repository, or it has not finished)")
        project = await hub.db.read(lambda db: store.get_project(db, execution["project_id"]))
        try:
            changes = await git_checkpoints.diff(Path(project["workspace"]), execution["base_commit"],
                                             execution["commit_sha"])
        except git_checkpoints.GitError as exc:
            raise Conflict(f"cannot read the diff: {exc}") from None
        return json_response({"execution_id": execution_id, "branch": execution["branch"], **changes})

    return routes


def _seq_of(body: str) -> int:
    # Every stored body starts with {"seq":N, (see events.build_event).
    return int(body[7 : body.index(",")])
