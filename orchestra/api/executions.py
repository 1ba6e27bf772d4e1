"""``/executions``: what ran, its stored agent events, and cancelling one."""

from __future__ import annotations

from quart import Blueprint, Response, request

from .. import history
from ..hub import Hub
from .common import json_response, query_int


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("executions", __name__)

    @routes.get("/executions")
    async def list_executions() -> Response:
        filters = {name: request.args.get(name, "") for name in ("project_id", "node_id", "run_id", "status")}
        limit = query_int("limit", 50, low=1, high=500)
        assert limit is not None
        before = request.args.get("before") or None
        rows, next_before = await hub.db.read(lambda db: history.list_executions(db, filters, limit, before))
        return json_response({"executions": rows, "next_before": next_before})

    @routes.get("/executions/<execution_id>")
    async def get_execution(execution_id: str) -> Response:
        return json_response(await hub.db.read(lambda db: history.get_execution(db, execution_id)))

    @routes.get("/executions/<execution_id>/events")
    async def execution_events(execution_id: str) -> Response:
        after = query_int("after", 0, low=0, high=2**62)
        limit = query_int("limit", 1000, low=1, high=10_000)
        assert after is not None and limit is not None
        bodies = await hub.db.read(lambda db: history.execution_events(db, execution_id, after, limit))
        # Stored events are already JSON: splice them in rather than decode and encode again.
        next_after = "null"
        if len(bodies) == limit:
            next_after = str(_seq_of(bodies[-1]))
        text = '{"events":[' + ",".join(bodies) + '],"next_after":' + next_after + "}"
        return Response(text, mimetype="application/json")

    @routes.post("/executions/<execution_id>/cancel")
    async def cancel_execution(execution_id: str) -> Response:
        return json_response(await hub.cancel_execution(execution_id), 202)

    return routes


def _seq_of(body: str) -> int:
    # Every stored body starts with {"seq":N, (see events.build_event).
    return int(body[7 : body.index(",")])
