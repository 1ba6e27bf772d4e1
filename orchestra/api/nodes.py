"""``/projects/{id}/nodes``: the DAG's nodes and their dependencies."""

from __future__ import annotations

from collections import OrderedDict

from quart import Blueprint, Response

from orchestra.agents.templates import BUILTIN_IDS
from orchestra.api.common import encode, json_response, no_content, parse_body, raw_json_response
from orchestra.core.models import NodeCreate, NodePatch
from orchestra.runtime.hub import Hub
from orchestra.storage import definitions, store

NODE_LIST_CACHE = 32


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("nodes", __name__)

    # project id -> (node version, encoded list): a 1,000-node list is ~0.75 MB of JSON, which
    # agents' events do not change; node writes do (Database.node_versions). A few projects only.
    cache: OrderedDict[str, tuple[int, str]] = OrderedDict()

    @routes.get("/projects/<project_id>/nodes")
    async def list_nodes(project_id: str) -> Response:
        version = hub.db.node_versions.get(project_id, 0)
        hit = cache.get(project_id)
        if hit is not None and hit[0] == version:
            cache.move_to_end(project_id)
            return raw_json_response(hit[1])
        text = await hub.db.read(lambda db: encode({"nodes": store.list_nodes(db, project_id)}))
        cache[project_id] = (version, text)
        if len(cache) > NODE_LIST_CACHE:
            cache.popitem(last=False)
        return raw_json_response(text)

    @routes.post("/projects/<project_id>/nodes")
    async def create_node(project_id: str) -> Response:
        fields = (await parse_body(NodeCreate)).model_dump(exclude_none=True)
        node = await hub.db.write(lambda tx: definitions.create_node(tx, project_id, fields, BUILTIN_IDS))
        return json_response(node, 201)

    @routes.get("/projects/<project_id>/nodes/<node_id>")
    async def get_node(project_id: str, node_id: str) -> Response:
        return json_response(await hub.db.read(lambda db: store.get_node(db, project_id, node_id)))

    @routes.patch("/projects/<project_id>/nodes/<node_id>")
    async def patch_node(project_id: str, node_id: str) -> Response:
        body = await parse_body(NodePatch)
        changes = body.model_dump(exclude_unset=True)
        for required in ("title", "prompt", "agent", "retries", "depends_on", "max_repairs", "review_plan"):
            if required in changes and changes[required] is None:
                changes.pop(required)
        node = await hub.db.write(lambda tx: definitions.update_node(tx, project_id, node_id, changes, BUILTIN_IDS))
        return json_response(node)

    @routes.delete("/projects/<project_id>/nodes/<node_id>")
    async def delete_node(project_id: str, node_id: str) -> Response:
        await hub.db.write(lambda tx: definitions.delete_node(tx, project_id, node_id))
        return no_content()

    return routes
