"""``/agent-templates``: the built-in CLIs and the user's own templates."""

from __future__ import annotations

import trio
from quart import Blueprint, Response

from orchestra.agents.templates import BUILTIN_IDS, unknown_placeholders
from orchestra.api.common import json_response, no_content, parse_body
from orchestra.core.errors import NotFound, Unprocessable
from orchestra.core.models import TemplateCreate
from orchestra.executors.sandbox import refuse_exposing_template
from orchestra.runtime.hub import Hub
from orchestra.storage import definitions, store


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("templates", __name__)

    @routes.get("/agent-templates")
    async def list_templates() -> Response:
        users = await hub.db.read(store.user_templates)
        templates = [template | {"availability": hub.availability.get(template["id"])}
                     for template in (*hub.builtin_templates.values(), *users)]
        return json_response({"agent_templates": templates})

    @routes.post("/agent-templates/check")
    async def check_templates() -> Response:
        """Look for every template's executable again (e.g. after installing a CLI)."""
        return json_response({"availability": await hub.check_agents()})

    @routes.post("/agent-templates/<template_id>/check")
    async def check_template(template_id: str) -> Response:
        """Look for one template's executable now: the UI shows a new template's availability at once."""
        template = await hub.template(template_id)
        if template is None:
            raise NotFound(f"agent template '{template_id}' does not exist")
        return json_response(template | {"availability": await hub.check_agent(template)})

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
        if not _is_program(body.command[0]):
            raise Unprocessable("command[0] must be an executable name or an absolute path",
                                {"field": "command"})
        if body.resume_command is not None:
            unknown_resume = unknown_placeholders(body.resume_command)
            if unknown_resume or "{session_id}" not in body.resume_command or "{prompt}" not in body.resume_command \
                    or not _is_program(body.resume_command[0]):
                raise Unprocessable("resume_command must start with an executable and pass '{session_id}' and "
                                    "'{prompt}' as arguments, with no other placeholders than the known ones",
                                    {"field": "resume_command"})
        if body.version_command is not None and (unknown_placeholders(body.version_command)
                                                 or "{" in "".join(body.version_command)
                                                 or not _is_program(body.version_command[0])):
            raise Unprocessable("version_command must start with an executable and use no placeholders",
                                {"field": "version_command"})
        if "{prompt}" not in body.command:
            raise Unprocessable("command must pass the prompt as its own argument: '{prompt}'",
                                {"field": "command"})
        await trio.to_thread.run_sync(refuse_exposing_template, body, hub.settings)  # resolves symlinks: disk
        fields = body.model_dump()
        template = await hub.db.write(lambda tx: definitions.insert_template(tx, fields, BUILTIN_IDS))
        hub.check_agent_soon(template)  # /health knows about it without a manual check
        return json_response(template, 201)

    @routes.get("/agent-templates/<template_id>")
    async def get_template(template_id: str) -> Response:
        template = await hub.template(template_id)
        if template is None:
            raise NotFound(f"agent template '{template_id}' does not exist")
        return json_response(template)

    @routes.delete("/agent-templates/<template_id>")
    async def delete_template(template_id: str) -> Response:
        await hub.db.write(lambda tx: definitions.delete_template(tx, template_id, BUILTIN_IDS))
        hub.availability.pop(template_id, None)
        return no_content()

    return routes


def _is_program(program: str) -> bool:
    """A bare name looked up on PATH (``claude``) or an absolute path (``/opt/x/bin/claude``): not a
    relative path, a placeholder, a flag, or a command line with spaces in one element."""
    if not program or "{" in program or "\x00" in program or program != program.strip():
        return False
    if program.startswith("/"):
        return not program.endswith("/")
    return "/" not in program and not program.startswith("-") and program not in (".", "..") and not any(
        c.isspace() for c in program)

