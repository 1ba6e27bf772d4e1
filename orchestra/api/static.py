"""The static UI under ``/ui/``, with security headers; ``/`` sends the browser there.

``/ui/statuses.js`` is not a file: it is made from :mod:`orchestra.core.statuses`, so the UI knows the
hub's statuses and event types without keeping a copy of them."""

from __future__ import annotations

import os
from pathlib import Path

from quart import Blueprint, Response, redirect, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.wrappers.response import Response as WerkzeugResponse

from orchestra.core.statuses import ui_module
from orchestra.runtime.hub import Hub

UI_DIR = Path(os.environ.get("ORCHESTRA_UI_DIR", Path(__file__).resolve().parents[2] / "ui"))

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
    ui_present = UI_DIR.is_dir()

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
        if "\\" in path or "\x00" in path or not ui_present:
            raise NotFound()
        response = await send_from_directory(UI_DIR, path)
        response.headers.update(SECURITY_HEADERS)
        return response

    return routes
