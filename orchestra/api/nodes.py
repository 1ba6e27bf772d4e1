"""``/projects/{id}/nodes``: the DAG's nodes and their dependencies."""

from __future__ import annotations

from quart import Blueprint, Response

from .. import store
from ..hub import Hub
from ..models import NodeCreate, NodePatch
from ..templates import BUILTIN_IDS
from .common import json_response, no_content, parse_body


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("nodes", __name__)

    @routes.get("/projects/<project_id>/nodes")
    async def list_nodes(project_id: str) -> Response:
        return json_response({"nodes": await hub.db.read(lambda db: store.list_nodes(db, project_id))})

    @routes.post("/projects/<project_id>/nodes")
    async def create_node(project_id: str) -> Response:
        fields = (await parse_body(NodeCreate)).model_dump(exclude_none=True)
        node = await hub.db.write(lambda tx: store.create_node(tx, project_id, fields, BUILTIN_IDS))
        return json_response(node, 201)

    @routes.get("/projects/<project_id>/nodes/<node_id>")
    async def get_node(project_id: str, node_id: str) -> Response:
        return json_response(await hub.db.read(lambda db: store.get_node(db, project_id, node_id)))

    @routes.patch("/projects/<project_id>/nodes/<node_id>")
    async def patch_node(project_id: str, node_id: str) -> Response:
        body = await parse_body(NodePatch)
        changes = body.model_dump(exclude_unset=True)
        for required in ("title", "prompt", "agent", "retries", "depends_on"):
            if required in changes and changes[required] is None:
                changes.pop(required)
        node = await hub.db.write(lambda tx: store.update_node(tx, project_id, node_id, changes, BUILTIN_IDS))
        return json_response(node)

    @routes.delete("/projects/<project_id>/nodes/<node_id>")
    async def delete_node(project_id: str, node_id: str) -> Response:
        await hub.db.write(lambda tx: store.delete_node(tx, project_id, node_id))
        return no_content()

    return routes
