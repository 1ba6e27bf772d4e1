"""``/agent-templates``: the built-in CLIs and the user's own templates."""

from __future__ import annotations

from quart import Blueprint, Response

from .. import store
from ..errors import NotFound, Unprocessable
from ..hub import Hub
from ..models import TemplateCreate
from ..templates import BUILTIN_IDS, unknown_placeholders
from .common import json_response, parse_body


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("templates", __name__)

    @routes.get("/agent-templates")
    async def list_templates() -> Response:
        users = await hub.db.read(store.user_templates)
        return json_response({"agent_templates": [*hub.builtin_templates.values(), *users]})

    @routes.post("/agent-templates")
    async def create_template() -> Response:
        body = await parse_body(TemplateCreate)
        unknown = unknown_placeholders(body.command)
        if unknown:
            raise Unprocessable(
                f"command uses unknown placeholder(s) {', '.join('{' + n + '}' for n in sorted(unknown))}; "
                "known: {prompt}, {model}, {workspace}, {session_id}",
                {"field": "command"},
            )
        program = body.command[0]
        if not program.strip() or "{" in program or ("/" in program and not program.startswith("/")):
            raise Unprocessable("command[0] must be an executable name or an absolute path",
                                {"field": "command"})
        if "{prompt}" not in body.command:
            raise Unprocessable("command must pass the prompt as its own argument: '{prompt}'",
                                {"field": "command"})
        fields = body.model_dump()
        template = await hub.db.write(lambda tx: store.insert_template(tx, fields, BUILTIN_IDS))
        return json_response(template, 201)

    @routes.get("/agent-templates/<template_id>")
    async def get_template(template_id: str) -> Response:
        template = await hub.template(template_id)
        if template is None:
            raise NotFound(f"agent template '{template_id}' does not exist")
        return json_response(template)

    @routes.delete("/agent-templates/<template_id>")
    async def delete_template(template_id: str) -> Response:
        await hub.db.write(lambda tx: store.delete_template(tx, template_id, BUILTIN_IDS))
        return Response(status=204)

    return routes
