"""The quart-trio application: one blueprint per resource, one error shape, the token check."""

from __future__ import annotations

import logging
import traceback

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from ..auth import bearer_matches
from ..errors import ApiError, Unauthorized, error_body
from ..hub import Hub
from . import executions, health, nodes, projects, runs, static, templates, ws
from .common import json_response

log = logging.getLogger("orchestra.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "validation_error"}

# Paths anyone may load: the health check and the static UI (the UI asks for the token itself).
_OPEN_PREFIXES = ("/health", "/ui/", "/favicon")


def create_app(hub: Hub) -> QuartTrio:
    app = QuartTrio("orchestra", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = hub.settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    app.json.sort_keys = False  # type: ignore[attr-defined]

    for module in (health, projects, nodes, templates, runs, executions, ws, static):
        app.register_blueprint(module.blueprint(hub))

    @app.before_request
    async def require_token() -> None:
        if request.method == "OPTIONS" or request.path == "/" or request.path.startswith(_OPEN_PREFIXES):
            return
        if not bearer_matches(request.headers.get("Authorization"), hub.token):
            raise Unauthorized("missing or wrong token: send 'Authorization: Bearer <token>'")

    @app.after_request
    async def cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and origin in hub.settings.cors_origin_list:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
        return response

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return json_response(error.body(), error.status)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = {404: f"no route for {request.method} {request.path}",
                   405: f"method {request.method} is not allowed on {request.path}",
                   413: f"request body larger than {hub.settings.max_body_bytes} bytes"}.get(
                       status, error.description or error.name)
        response = json_response(error_body(_HTTP_CODES.get(status, "http_error"), message), status)
        if status == 413:
            # The body was not read: close the connection, or the next request on it would hang.
            response.headers["Connection"] = "close"
        return response

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        details = traceback.format_exception(error) if hub.settings.debug else None
        return json_response(error_body("internal", "internal error; see the hub's log", details), 500)

    return app
