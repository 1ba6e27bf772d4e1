"""``/attention``: what waits for a person across every project (orchestra/storage/attention.py), and
``/runs/{id}/seen``, the marker that takes a failed run off that list."""

from __future__ import annotations

import sqlite_utils
from quart import Blueprint, Response, request

from orchestra.api.common import json_response, raw_json_response
from orchestra.runtime.hub import Hub
from orchestra.storage import attention, store


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("attention", __name__)

    @routes.get("/attention")
    async def list_attention() -> Response:
        project_id = request.args.get("project_id") or None

        def read(db: sqlite_utils.Database) -> str:
            if project_id is not None:
                store.require_project(db, project_id)
            return attention.encode_items(attention.list_items(db, project_id))

        return raw_json_response(await hub.db.read(read))

    @routes.post("/runs/<run_id>/seen")
    async def mark_seen(run_id: str) -> Response:
        return json_response(await hub.db.write(lambda tx: attention.mark_seen(tx, run_id)))

    return routes
