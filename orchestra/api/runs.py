"""``/launch`` and ``/runs``: start a project's DAG, follow and cancel its runs."""

from __future__ import annotations

import sqlite_utils
from quart import Blueprint, Response, request

from orchestra.api.common import json_response, parse_body, query_int
from orchestra.core.models import LaunchRequest
from orchestra.core.rows import Run
from orchestra.runtime import landing
from orchestra.runtime.hub import Hub
from orchestra.storage import history, store


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("runs", __name__)

    @routes.post("/launch")
    async def launch() -> Response:
        body = await parse_body(LaunchRequest)
        budget = body.budget.model_dump(exclude_none=True) if body.budget else None
        return json_response(await hub.launch(body.project_id, body.node_ids, budget, body.inputs), 202)

    @routes.get("/runs")
    async def list_runs() -> Response:
        project_id = request.args.get("project_id") or None
        limit = query_int("limit", 50, low=1, high=500)
        assert limit is not None
        before = request.args.get("before") or None

        def query(db: sqlite_utils.Database) -> tuple[list[Run], str | None]:
            if project_id is not None:
                store.require_project(db, project_id)
            return history.list_runs(db, project_id, limit, before)

        runs, next_before = await hub.db.read(query)
        return json_response({"runs": runs, "next_before": next_before})

    @routes.get("/runs/<run_id>")
    async def get_run(run_id: str) -> Response:
        return json_response(await hub.db.read(lambda db: history.get_run(db, run_id)))

    @routes.post("/runs/<run_id>/cancel")
    async def cancel_run(run_id: str) -> Response:
        return json_response(await hub.cancel_run(run_id), 202)

    @routes.post("/runs/<run_id>/land")
    async def land_run(run_id: str) -> Response:
        """Land a finished run's work as its project's land node says (orchestra/runtime/landing.py)."""
        worktrees = hub.settings.workspaces_root / ".worktrees"
        return json_response(await landing.land_finished_run(hub.db, hub.settings, worktrees, run_id))

    return routes
