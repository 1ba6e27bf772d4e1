"""``/health``: answers without a token, so a tunnel or systemd can probe the hub. Which agent CLIs
are installed (and their versions) is shown only to a caller with the token."""

from __future__ import annotations

from quart import Blueprint, Response, request

from orchestra.api.common import json_response
from orchestra.core.auth import bearer_matches
from orchestra.core.version import __version__
from orchestra.runtime.hub import Hub


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("health", __name__)

    @routes.get("/health")
    async def health() -> Response:
        body: dict[str, object] = {"status": "ok", "version": __version__}
        if bearer_matches(request.headers.get("Authorization"), hub.token):
            body["agents"] = {template_id: {"available": report["available"], "version": report["version"]}
                              for template_id, report in hub.availability.items()}
        return json_response(body)

    return routes
