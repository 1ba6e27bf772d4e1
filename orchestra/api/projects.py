"""``/projects``: create, list, read, edit and delete projects."""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from orchestra.api.common import json_response, no_content, parse_body
from orchestra.core.models import ProjectCreate, ProjectPatch
from orchestra.runtime.hub import Hub
from orchestra.storage import definitions, store
from orchestra.workspaces.paths import resolve_workspace


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("projects", __name__)
    root = hub.settings.workspaces_root

    @routes.get("/projects")
    async def list_projects() -> Response:
        return json_response({"projects": await hub.db.read(store.list_projects)})

    @routes.post("/projects")
    async def create_project() -> Response:
        body = await parse_body(ProjectCreate)
        fields = body.model_dump(exclude_none=True)
        project_id = store.new_id("prj")
        workspace = await trio.to_thread.run_sync(resolve_workspace, root, body.workspace, project_id)
        fields |= {"id": project_id, "workspace": str(workspace)}
        project = await hub.db.write(lambda tx: definitions.insert_project(tx, fields))
        return json_response(project, 201)

    @routes.get("/projects/<project_id>")
    async def get_project(project_id: str) -> Response:
        return json_response(await hub.db.read(lambda db: store.get_project(db, project_id, with_totals=True)))

    @routes.patch("/projects/<project_id>")
    async def patch_project(project_id: str) -> Response:
        body = await parse_body(ProjectPatch)
        changes = body.model_dump(exclude_unset=True)
        if "workspace" in changes:
            await hub.db.read(lambda db: store.require_project(db, project_id))
            workspace = await trio.to_thread.run_sync(resolve_workspace, root, body.workspace, project_id)
            changes["workspace"] = str(workspace)
        for required in ("name", "description", "workspace"):
            if required in changes and changes[required] is None:
                changes.pop(required)
        project = await hub.db.write(lambda tx: definitions.update_project(tx, project_id, changes))
        return json_response(project)

    @routes.delete("/projects/<project_id>")
    async def delete_project(project_id: str) -> Response:
        await hub.delete_project(project_id)
        return no_content()

    return routes
