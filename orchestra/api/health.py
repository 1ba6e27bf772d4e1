"""``/health``: answers without a token, so a tunnel or systemd can probe the hub."""

from __future__ import annotations

from quart import Blueprint, Response

from .. import __version__
from ..hub import Hub
from .common import json_response


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("health", __name__)

    @routes.get("/health")
    async def health() -> Response:
        agents = {template_id: {"available": report["available"], "version": report["version"]}
                  for template_id, report in hub.availability.items()}
        return json_response({"status": "ok", "version": __version__, "agents": agents})

    return routes
