"""``/health``: answers without a token, so a tunnel or systemd can probe the hub. Which agent CLIs
are installed (and their versions) is shown only to a caller with the token. ``loop_lag_ms`` is the worst
lag of the event loop over the last minute (:mod:`orchestra.system.loop_lag`): near 0 on a healthy hub."""

from __future__ import annotations

from quart import Blueprint, Response, request

from orchestra.api.common import json_response
from orchestra.core.auth import bearer_matches
from orchestra.core.version import __version__
from orchestra.runtime.hub import Hub
from orchestra.system.loop_lag import LoopLag


def blueprint(hub: Hub, loop_lag: LoopLag | None = None) -> Blueprint:
    routes = Blueprint("health", __name__)

    @routes.get("/health")
    async def health() -> Response:
        body: dict[str, object] = {"status": "ok", "version": __version__, "sandbox": hub.sandbox.state}
        if loop_lag is not None:
            body["loop_lag_ms"] = loop_lag.report()
        if bearer_matches(request.headers.get("Authorization"), hub.token):
            body["agents"] = {template_id: {"available": report["available"], "version": report["version"]}
                              for template_id, report in hub.availability.items()}
            if hub.notifier is not None:  # delivery failures show here (targets without their secrets)
                body["notifications"] = hub.notifier.health()
        return json_response(body)

    return routes
