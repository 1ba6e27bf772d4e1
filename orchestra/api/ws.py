"""``/ws/subscribe/{project_id}``: a project's events, live, with no gap and no duplicate.

When nothing happened for HEARTBEAT_S, the server sends ``{"type":"heartbeat","seq":<last>}``:
it keeps idle connections alive through proxies and makes a dead peer's socket fail
(TCP_USER_TIMEOUT, see orchestra.server). Clients ignore it, or use its ``seq`` to spot a hole.

The subscription is registered on the bus *before* the snapshot or the replay is read, and live
events with a ``seq`` already sent are dropped, so nothing falls through the seam between stored
and live events. Several events may travel in one message (a JSON array), encoded once per event.
"""

from __future__ import annotations

import json
import logging
import math

import sqlite_utils
import trio
from quart import Blueprint, Response, websocket

from .. import history, store
from ..auth import bearer_matches, token_matches
from ..errors import NotFound
from ..events import StoredEvent, SubscriptionClosed
from ..hub import Hub
from .common import json_response

log = logging.getLogger("orchestra.ws")

REPLAY_PAGE = 2_000
LIVE_BATCH = 1_000
SEND_TIMEOUT_S = 30.0
HEARTBEAT_S = 15.0
# A subscriber is sent at most one message of fewer than LINGER_BELOW events per SEND_INTERVAL_S: the
# first events after a quiet spell go out at once, a steady stream is gathered so that one WebSocket
# frame (one send per subscriber) carries many events, which keeps fan-out cheap at moderate rates.
SEND_INTERVAL_S = 0.005
LINGER_BELOW = 100
CLOSE_UNKNOWN_PROJECT = 4404
CLOSE_BAD_REQUEST = 4400


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("ws", __name__)

    @routes.websocket("/ws/subscribe/<project_id>")
    async def subscribe(project_id: str) -> Response | None:
        header = websocket.headers.get("Authorization")
        if not (bearer_matches(header, hub.token) or token_matches(websocket.args.get("token"), hub.token)):
            return json_response({"error": {"code": "unauthorized", "message": "missing or wrong token",
                                            "details": None}}, 401)
        origin = websocket.headers.get("Origin")
        if origin and origin not in hub.settings.cors_origin_list and not _same_origin(origin):
            return json_response({"error": {"code": "forbidden_origin",
                                            "message": f"origin {origin} is not allowed", "details": None}}, 403)
        await websocket.accept()
        since_text = websocket.args.get("since")
        try:
            since = int(since_text) if since_text is not None else None
            if since is not None and since < 0:
                raise ValueError
        except ValueError:
            await websocket.close(CLOSE_BAD_REQUEST, "since must be a non-negative integer")
            return None
        try:
            await hub.db.read(lambda db: store.require_project(db, project_id))
        except NotFound as exc:
            await websocket.close(CLOSE_UNKNOWN_PROJECT, exc.message)
            return None
        with hub.bus.subscribe(project_id) as subscription:
            try:
                last = await _send_history(hub, project_id, since)
                sent_at = -math.inf
                while True:
                    batch = None
                    with trio.move_on_after(HEARTBEAT_S):
                        batch = await subscription.next_batch(LIVE_BATCH)
                    if batch is not None:
                        if len(batch) < LINGER_BELOW and trio.current_time() < sent_at + SEND_INTERVAL_S:
                            await trio.sleep_until(sent_at + SEND_INTERVAL_S)
                            batch += subscription.take_nowait(LIVE_BATCH - len(batch))
                        batch = [e for e in batch if e.seq > last]
                    if batch is None:
                        await _send_text(f'{{"type":"heartbeat","seq":{last}}}')
                    elif batch:
                        await _send(batch)
                        sent_at = trio.current_time()
                        last = batch[-1].seq
            except SubscriptionClosed as closed:
                with trio.move_on_after(2):
                    await websocket.close(closed.code, closed.reason)
            except trio.TooSlowError:
                log.info("dropped a subscriber of %s: a send took over %s s", project_id, SEND_TIMEOUT_S)
        return None

    return routes


def _same_origin(origin: str) -> bool:
    host = websocket.headers.get("Host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def _send_history(hub: Hub, project_id: str, since: int | None) -> int:
    """Send the snapshot (no ``since``) or the stored events after ``since``; return the last seq sent."""
    if since is None:
        snapshot = await hub.db.read(lambda db: _snapshot(db, project_id))
        await _send_text(json.dumps(snapshot, separators=(",", ":")))
        return snapshot["seq"]
    last = since
    while True:
        page = await hub.db.read(lambda db, after=last: history.project_events(db, project_id, after, REPLAY_PAGE))
        if not page:
            return last
        await _send([StoredEvent(project_id, seq, body) for seq, body in page])
        last = page[-1][0]


def _snapshot(db: sqlite_utils.Database, project_id: str) -> dict[str, object]:
    return {
        "type": "snapshot",
        "seq": history.latest_seq(db, project_id),
        "project": store.get_project(db, project_id),
        "nodes": store.list_nodes(db, project_id),
        "executions": history.latest_executions(db, project_id),
    }


async def _send(events: list[StoredEvent]) -> None:
    await _send_text(events[0].body if len(events) == 1 else "[" + ",".join(e.body for e in events) + "]")


async def _send_text(text: str) -> None:
    with trio.fail_after(SEND_TIMEOUT_S):
        await websocket.send(text)
