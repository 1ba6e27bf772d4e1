"""``GET /projects/{id}/flow`` and ``POST /flows/apply``: a project's DAG as a TOML flow file, out and in.

The file travels as itself (``application/toml``), not wrapped in JSON, so that
``curl --data-binary @flow.toml`` applies the file a repository keeps.
"""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path

import trio
from quart import Blueprint, Response, request

from orchestra.api.common import json_response
from orchestra.core.errors import BadRequest, Conflict, Unprocessable
from orchestra.flows import files as flows
from orchestra.runtime import commands
from orchestra.runtime.hub import Hub
from orchestra.storage import store
from orchestra.workspaces.paths import resolve_workspace


def _flag(name: str) -> bool:
    value = request.args.get(name, "").lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise Unprocessable(f"query parameter '{name}' must be true or false", {"field": name})


def _remove_if_empty(root: Path, workspace: str, project_id: str) -> None:
    """The default workspace made for a project that another apply created first: it is nobody's."""
    path = Path(workspace)
    if path == root.resolve() / project_id:
        with contextlib.suppress(OSError):
            path.rmdir()  # only when empty


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("flows", __name__)
    root = hub.settings.workspaces_root

    @routes.get("/projects/<project_id>/flow")
    async def export(project_id: str) -> Response:
        text = await hub.db.read(lambda db: flows.export_flow(db, project_id, root))
        return Response(text, mimetype="application/toml")

    @routes.post("/flows/apply")
    async def apply() -> Response:
        """Apply the flow in the body to ``?project_id=`` or else to the project of its name (created
        when there is none); ``?dry_run=true`` only says what would change."""
        raw = await request.get_data(cache=False, as_text=False)
        assert isinstance(raw, bytes)
        if not raw.strip():
            raise BadRequest("request body is empty; send the flow file's TOML text")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the flow file is not UTF-8 text (byte {exc.start})") from None
        dry_run = _flag("dry_run")
        project_id = request.args.get("project_id") or None
        parsed = await trio.to_thread.run_sync(flows.parse_flow, text)
        project = parsed.flow.project
        if project_id is None:
            named = await hub.db.read(
                lambda db: [p["id"] for p in store.list_projects(db) if p["name"] == project.name])
            if len(named) > 1:
                raise Conflict(f"{len(named)} projects are named '{project.name}' ({', '.join(named)}); "
                               "say which with ?project_id=", {"projects": named})
            project_id = named[0] if named else None
        async def resolved_workspace(project_id: str) -> str:
            try:
                return str(await trio.to_thread.run_sync(partial(
                    resolve_workspace, root, project.workspace, project_id, create=not dry_run)))
            except Unprocessable as exc:  # outside the workspaces root, or not a directory: say where
                raise parsed.error(("project", "workspace"), exc.message) from None

        if project_id is None:
            new_id = store.new_id("prj")
            new_workspace = await resolved_workspace(new_id)  # a dry run checks it and creates nothing
            try:
                result = await hub.db.write(lambda tx: flows.apply_flow(
                    tx, None, parsed, workspace=new_workspace, new_project_id=new_id, dry_run=dry_run))
                return json_response(result, 200 if dry_run else 201)
            except flows.NameTaken as taken:  # a concurrent apply created it first: apply to that one
                project_id = taken.details["project_id"]
                if not dry_run:
                    await trio.to_thread.run_sync(_remove_if_empty, root, new_workspace, new_id)
        existing = project_id
        workspace = None
        if project.workspace is not None:
            await hub.db.read(lambda db: store.require_project(db, existing))
            workspace = await resolved_workspace(existing)
        return json_response(await hub.send(existing, commands.ApplyFlow(parsed, workspace, dry_run)))

    return routes
