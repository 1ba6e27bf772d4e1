"""The quart-trio application: one blueprint per resource, one error shape, the token check."""

from __future__ import annotations

import logging
import traceback

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, ASGISendEvent
from quart import Response, has_websocket_context, request, websocket
from quart.json.provider import DefaultJSONProvider
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection
from werkzeug.exceptions import HTTPException
from werkzeug.routing.exceptions import WebsocketMismatch

from orchestra.api import client, executions, flows, health, nodes, projects, runs, static, templates, triggers, ws
from orchestra.api.common import json_response
from orchestra.core.auth import bearer_matches
from orchestra.core.errors import ApiError, Unauthorized, error_body
from orchestra.runtime.hub import Hub
from orchestra.system.loop_lag import LoopLag
from orchestra.triggers.schedules import Scheduler

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "validation_error"}

# Paths anyone may load: the health check and the static UI (the UI asks for the token itself); a
# webhook delivery's signature is its credential (api/triggers.py); the client's wheel is public code
# (api/client.py).
_OPEN_PREFIXES = ("/health", "/ui/", "/favicon", "/hooks/", "/client/")

# How long an answer given without reading the request body (401, 404, 405, a route that takes no
# body) waits for that body to arrive, so the connection can serve the next request; a body still
# incomplete by then (or over the size limit) is not read: the connection is closed after the answer.
DRAIN_TIMEOUT_S = 5.0


class _ShieldedSendConnection(TrioASGIHTTPConnection):
    """Quart-trio's HTTP connection, with each ``send`` to hypercorn shielded from cancellation.

    Sending the last part of a response makes hypercorn deliver ``http.disconnect`` to the app, on
    which quart-trio cancels the request's nursery, from inside that same ``send``. Hypercorn then
    cancels itself midway through its bookkeeping: a connection it meant to close (``Connection:
    close``, a body left unread) stays open and wedged, and a kept-alive one never re-arms its idle
    timer. Shielded, the bookkeeping completes. (Hypercorn already shields its socket writes, so
    this makes no send less interruptible than it was.)
    """

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        async def shielded_send(message: ASGISendEvent) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        await super().__call__(receive, shielded_send)


def create_app(hub: Hub, scheduler: Scheduler, loop_lag: LoopLag | None = None) -> QuartTrio:
    app = QuartTrio("orchestra", static_folder=None)
    app.asgi_http_class = _ShieldedSendConnection
    app.config["MAX_CONTENT_LENGTH"] = hub.settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False

    app.register_blueprint(health.blueprint(hub, loop_lag))
    for module in (projects, nodes, flows, templates, runs, executions, ws, static, client):
        app.register_blueprint(module.blueprint(hub))
    app.register_blueprint(triggers.blueprint(hub, scheduler))

    @app.before_request
    async def require_token() -> None:
        if request.method == "OPTIONS" or request.path == "/" or request.path.startswith(_OPEN_PREFIXES):
            return
        if not bearer_matches(request.headers.get("Authorization"), hub.token):
            raise Unauthorized("missing or wrong token: send 'Authorization: Bearer <token>'")

    @app.after_request
    async def drain_body(response: Response) -> Response:
        """Read what is left of the request body before answering (keep-alive needs the whole
        request off the wire); when it is too large or too slow, close the connection instead."""
        try:
            with trio.fail_after(DRAIN_TIMEOUT_S):
                await request.get_data(cache=False)
        except (HTTPException, trio.TooSlowError):
            response.headers["Connection"] = "close"
        return response

    @app.after_request
    async def cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and origin in hub.settings.cors_origin_list:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        return response

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        response = json_response(error.body(), error.status)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if has_websocket_context():
            # Answered before the handshake, as HTTP. An upgrade to a path only HTTP routes have is
            # werkzeug's 400 WebsocketMismatch: for the client, too, there is no such WebSocket.
            if status in (404, 405) or isinstance(error, WebsocketMismatch):
                return json_response(error_body("not_found", f"no WebSocket route for {websocket.path}"), 404)
            return json_response(error_body(_HTTP_CODES.get(status, "http_error"), error.description or error.name),
                                 status)
        message = {404: f"no route for {request.method} {request.path}",
                   405: f"method {request.method} is not allowed on {request.path}",
                   413: f"request body larger than {hub.settings.max_body_bytes} bytes"}.get(
                       status, error.description or error.name)
        return json_response(error_body(_HTTP_CODES.get(status, "http_error"), message), status)

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        where = f"WebSocket {websocket.path}" if has_websocket_context() else f"{request.method} {request.path}"
        log.exception("unhandled error on %s", where)
        details = traceback.format_exception(error) if hub.settings.debug else None
        return json_response(error_body("internal", "internal error; see the hub's log", details), 500)

    return app
