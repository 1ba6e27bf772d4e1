"""The static UI under ``/ui/``, with security headers; ``/`` sends the browser there.

``/ui/statuses.js`` is not a file: it is made from :mod:`orchestra.core.statuses`, so the UI knows the
hub's statuses and event types without keeping a copy of them."""

from __future__ import annotations

import logging

from quart import Blueprint, Response, redirect, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.wrappers.response import Response as WerkzeugResponse

from orchestra.core.statuses import ui_module
from orchestra.runtime.hub import Hub
from orchestra.system.packaging import find_ui_dir

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self' http: https: ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

STATUSES_MODULE = ui_module()


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("static", __name__)
    ui_dir = find_ui_dir()
    if ui_dir is None:
        log.warning("no UI files found (ORCHESTRA_UI_DIR, ui/ beside or inside the orchestra package): "
                    "/ui/ answers 404")

    @routes.get("/")
    async def root() -> WerkzeugResponse:
        return redirect("/ui/")

    @routes.get("/ui/statuses.js")
    async def statuses() -> Response:
        response = Response(STATUSES_MODULE, mimetype="text/javascript")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-cache"  # a newer hub may know another status
        return response

    @routes.get("/ui/")
    @routes.get("/ui/<path:path>")
    async def ui(path: str = "index.html") -> Response:
        if "\\" in path or "\x00" in path or ui_dir is None:
            raise NotFound()
        response = await send_from_directory(ui_dir, path)
        response.headers.update(SECURITY_HEADERS)
        return response

    return routes
