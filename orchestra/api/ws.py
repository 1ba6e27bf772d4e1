"""``/ws/subscribe/{project_id}``: a project's events, live, with no gap and no duplicate; ``/ws/hub``:
the hub feed (orchestra.storage.hub_feed), every project's project and run events, with the same guarantees.
Both are a :class:`_Feed`: a key on the bus, its stored events, and the snapshot sent without ``since``.

When nothing happened for HEARTBEAT_S, the server sends ``{"type":"heartbeat","seq":<last>}``:
it keeps idle connections alive through proxies and makes a dead peer's socket fail
(TCP_USER_TIMEOUT, see orchestra.server). Clients ignore it, or use its ``seq`` to spot a hole.

The subscription is registered on the bus *before* the snapshot or the replay is read, and live
events with a ``seq`` already sent are dropped, so nothing falls through the seam between stored
and live events. Several events may travel in one message (a JSON array), encoded once per event.

A subscriber that stops reading is given up on: when its buffer on the bus overflows (closed 4008),
or when one send has not completed after SEND_TIMEOUT_S. Hypercorn shields its socket writes from
cancellation, so a timeout around ``websocket.send`` cannot end a write to a full socket: sends go
through an :class:`_Outbox` task, and the handler waits for each with a timeout. On giving up, the
hub logs one line and unsubscribes (nothing is buffered for that client any more); the write still
blocked is ended by the kernel (TCP_USER_TIMEOUT), which resets the connection.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypedDict

import sqlite_utils
import trio
from quart import Blueprint, Response, websocket
from quart.wrappers import Websocket

from orchestra.api.common import encode, json_response
from orchestra.core.auth import bearer_matches, token_matches
from orchestra.core.errors import NotFound
from orchestra.core.rows import Execution, Node, Project
from orchestra.core.statuses import MessageType
from orchestra.runtime.hub import Hub
from orchestra.storage import history, hub_feed, store
from orchestra.storage.events import CLOSE_TOO_SLOW, HUB_STREAM, StoredEvent, SubscriptionClosed
from orchestra.storage.hub_feed import HubSnapshot

log = logging.getLogger(__name__)

REPLAY_PAGE = 2_000
LIVE_BATCH = 1_000
# Below the server's TCP_USER_TIMEOUT (20 s): the hub gives up on a client that is not reading (and
# says so in its log) before the kernel resets the connection under it.
SEND_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
HEARTBEAT_S = 15.0
# A subscriber is sent at most one message of fewer than LINGER_BELOW events per SEND_INTERVAL_S: the
# first events after a quiet spell go out at once, a steady stream is gathered so that one WebSocket
# frame (one send per subscriber) carries many events, which keeps fan-out cheap at moderate rates.
SEND_INTERVAL_S = 0.005
LINGER_BELOW = 100
CLOSE_UNKNOWN_PROJECT = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_INTERNAL_ERROR = 1011
MAX_SINCE = 2**62
# ASCII digits only: int() would also take "+5", " 5", "1_000" and other scripts' digits ("٣").
_DIGITS = re.compile(r"[0-9]{1,19}")  # bounded (19 characters): fullmatch in constant time


@dataclass(frozen=True)
class _Feed:
    """One stream a client can follow: a project's, or the hub feed."""

    key: str  # on the bus: the project's id, or HUB_STREAM
    name: str  # in close reasons and log lines
    latest: Callable[[sqlite_utils.Database], int]  # its latest seq (NotFound: no such project)
    page: Callable[[sqlite_utils.Database, int, int], list[tuple[int, str]]]  # (seq, body) after a seq, oldest first
    snapshot: Callable[[sqlite_utils.Database], Snapshot | HubSnapshot]  # sent first without since
    log_extra: dict[str, Any] = field(default_factory=dict)


def _project_feed(project_id: str) -> _Feed:
    return _Feed(project_id, f"project {project_id}", lambda db: _latest_seq(db, project_id),
                 lambda db, after, limit: history.project_events(db, project_id, after, limit),
                 lambda db: _snapshot(db, project_id), {"project_id": project_id})


_HUB_FEED = _Feed(HUB_STREAM, "the hub feed", hub_feed.latest_seq, hub_feed.events_after, hub_feed.snapshot)


def blueprint(hub: Hub) -> Blueprint:
    routes = Blueprint("ws", __name__)

    @routes.websocket("/ws/subscribe/<project_id>")
    async def subscribe(project_id: str) -> Response | None:
        return await _subscription(hub, _project_feed(project_id))

    @routes.websocket("/ws/hub")
    async def subscribe_hub() -> Response | None:
        return await _subscription(hub, _HUB_FEED)

    return routes


async def _subscription(hub: Hub, feed: _Feed) -> Response | None:
    """Check the token and the origin (refused as HTTP before the handshake), then serve ``feed``."""
    header = websocket.headers.get("Authorization")
    if not (bearer_matches(header, hub.token) or token_matches(websocket.args.get("token"), hub.token)):
        return json_response({"error": {"code": "unauthorized", "message": "missing or wrong token",
                                        "details": None}}, 401)
    origin = websocket.headers.get("Origin")
    if origin and origin not in hub.settings.cors_origin_list and not _same_origin(origin):
        return json_response({"error": {"code": "forbidden_origin",
                                        "message": f"origin {origin} is not allowed", "details": None}}, 403)
    await websocket.accept()
    try:
        await _serve(hub, feed)
    except Exception:
        # Accepted already: Quart would close a failed handler with 1000, as if all went well.
        log.exception("the subscription to %s failed", feed.name, extra=feed.log_extra)
        with trio.move_on_after(CLOSE_TIMEOUT_S):
            await websocket.close(CLOSE_INTERNAL_ERROR, "internal error; see the hub's log")
    return None


async def _serve(hub: Hub, feed: _Feed) -> None:
    """An accepted subscription: check ``since`` and the project, then follow the feed's events."""
    since_text = websocket.args.get("since")
    since = _parse_since(since_text) if since_text is not None else None
    if since_text is not None and since is None:
        await websocket.close(CLOSE_BAD_REQUEST, f"since must be an integer from 0 to 2**62 ({MAX_SINCE})")
        return
    try:
        latest = await hub.db.read(feed.latest)
    except NotFound as exc:
        await websocket.close(CLOSE_UNKNOWN_PROJECT, exc.message)
        return
    if since is not None and since > latest:
        # E.g. the database was restored from an older backup: waiting would leave the client
        # silent until the feed caught up with a seq it has already seen (and then skip events).
        await websocket.close(CLOSE_BAD_REQUEST, f"since={since} is ahead of {feed.name}: the latest seq is "
                              f"{latest}; reconnect without since")
        return
    # quart types its ``websocket`` proxy as the Websocket itself: the proxy's method is not in its stubs.
    outbox = _Outbox(websocket._get_current_object())  # type: ignore[attr-defined]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.run)
        await _follow(hub, feed, since, outbox)
        nursery.cancel_scope.cancel()  # takes effect once a send left blocked returns


class ClientGone(Exception):
    """The subscriber's connection failed: there is no one left to send to or close."""


class _Outbox:
    """Sends on the WebSocket from a task of its own, so that the handler can stop waiting for a
    send (hypercorn's socket write cannot be cancelled) and give up on a client that is not reading."""

    def __init__(self, ws: Websocket) -> None:
        self._ws = ws
        self._jobs, self._queue = trio.open_memory_channel[tuple[Callable[[], Awaitable[None]], trio.Event]](0)
        self.gone = False  # the connection failed under a send: nothing more can go out

    async def run(self) -> None:
        async for job, done in self._queue:
            try:
                await job()
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError):
                # The client went away (hypercorn may be writing its own close frame meanwhile).
                self.gone = True
            done.set()
            if self.gone:
                return

    async def _do(self, job: Callable[[], Awaitable[None]], limit_s: float) -> None:
        """Run ``job`` on the sending task; TooSlowError when it has not completed within ``limit_s``."""
        if self.gone:
            raise ClientGone
        done = trio.Event()
        with trio.fail_after(limit_s):
            await self._jobs.send((job, done))  # blocks while an earlier send is still stuck
            await done.wait()
        if self.gone:
            raise ClientGone

    async def send(self, text: str) -> None:
        await self._do(partial(self._ws.send, text), SEND_TIMEOUT_S)

    async def close(self, code: int, reason: str) -> None:
        await self._do(partial(self._ws.close, code, reason), CLOSE_TIMEOUT_S)


async def _follow(hub: Hub, feed: _Feed, since: int | None, outbox: _Outbox) -> None:
    """Send the history, then live events, until the bus closes the subscription or a send stalls."""
    behind: SubscriptionClosed | None = None
    with hub.bus.subscribe(feed.key) as subscription:
        try:
            last = await _send_history(hub, feed, since, outbox)
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
                    await outbox.send(f'{{"type":"{MessageType.HEARTBEAT}","seq":{last}}}')
                elif batch:
                    await outbox.send(_message(batch))
                    sent_at = trio.current_time()
                    last = batch[-1].seq
        except SubscriptionClosed as closed:
            if closed.code != CLOSE_TOO_SLOW:  # the hub stops: it waits for subscribers to unsubscribe
                await _close(outbox, closed)
                return
            behind = closed
        except trio.TooSlowError:
            pass
        except ClientGone:
            return
    # Given up on this client, and unsubscribed: nothing is buffered for it any more.
    if behind is None:
        log.warning("dropped a subscriber of %s: a send did not complete in %s s (the client is not reading)",
                    feed.name, SEND_TIMEOUT_S, extra=feed.log_extra)
        return
    log.warning("dropped a subscriber of %s: it fell too far behind (closed %s)", feed.name, behind.code,
                extra=feed.log_extra)
    await _close(outbox, behind)


async def _close(outbox: _Outbox, closed: SubscriptionClosed) -> None:
    try:
        await outbox.close(closed.code, closed.reason)
    except (trio.TooSlowError, ClientGone):
        pass  # the client is not reading, or gone: not even the close frame goes out


def _parse_since(text: str) -> int | None:
    """``since`` as an integer, or None when it is not plain ASCII digits from 0 to MAX_SINCE."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_SINCE else None


def _latest_seq(db: sqlite_utils.Database, project_id: str) -> int:
    store.require_project(db, project_id)
    return history.latest_seq(db, project_id)


def _same_origin(origin: str) -> bool:
    host = websocket.headers.get("Host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def _send_history(hub: Hub, feed: _Feed, since: int | None, outbox: _Outbox) -> int:
    """Send the snapshot (no ``since``) or the stored events after ``since``; return the last seq sent."""
    if since is None:
        snapshot = await hub.db.read(feed.snapshot)
        await outbox.send(encode(snapshot))
        return snapshot["seq"]
    last = since
    while True:
        page = await hub.db.read(partial(_page, feed, last))
        if not page:
            return last
        await outbox.send(_message([StoredEvent(feed.key, seq, body) for seq, body in page]))
        last = page[-1][0]


def _page(feed: _Feed, after: int, db: sqlite_utils.Database) -> list[tuple[int, str]]:
    return feed.page(db, after, REPLAY_PAGE)


class Snapshot(TypedDict):
    type: MessageType
    seq: int  # the project's latest seq: live events after it follow
    project: Project
    nodes: list[Node]
    executions: list[Execution]  # the execution every node shows (history.latest_executions)
    newer_executions: list[Execution]  # the newest of a node whose shown one is an older unfinished one


def _snapshot(db: sqlite_utils.Database, project_id: str) -> Snapshot:
    return {
        "type": MessageType.SNAPSHOT,
        "seq": history.latest_seq(db, project_id),
        "project": store.get_project(db, project_id),
        "nodes": store.list_nodes(db, project_id),
        "executions": history.latest_executions(db, project_id),
        "newer_executions": history.newer_executions(db, project_id),
    }


def _message(events: list[StoredEvent]) -> str:
    return events[0].body if len(events) == 1 else "[" + ",".join(e.body for e in events) + "]"
