"""``GET /projects/{id}/grid?runs=N&before=RUN``: the project's history as nodes x runs, for the UI's grid."""

from __future__ import annotations

from quart import Blueprint, Response, request

from orchestra.api.common import json_response, query_int
from orchestra.runtime.hub import Hub
from orchestra.storage import grid

MAX_RUNS = 200


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("grid", __name__)

    @routes.get("/projects/<project_id>/grid")
    async def project_grid(project_id: str) -> Response:
        runs = query_int("runs", 25, low=1, high=MAX_RUNS)
        assert runs is not None
        before = request.args.get("before") or None
        return json_response(await hub.db.read(lambda db: grid.project_grid(db, project_id, runs, before)))

    return routes
