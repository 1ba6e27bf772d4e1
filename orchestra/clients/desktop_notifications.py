"""The desktop window's own notifications: what enters the hub's Attention list (``GET /attention``),
raised through the desktop's notification service (``org.freedesktop.Notifications`` on the session bus:
GNOME, KDE, XFCE and most Linux desktops), reached through Gio, which the desktop extra's PyGObject brings.
Clicking one opens that item in the window.

The window's process follows the list itself, because its page cannot: WebKitGTK keeps the page's
Notification permission at "default" (nothing grants it), and pywebview's JS bridge needs ``eval``,
which the UI's Content-Security-Policy refuses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from orchestra.core.statuses import AttentionKind

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
CALL_TIMEOUT_MS = 5_000
CLICKS_KEPT = 100  # clicks on notifications not (yet) known as this window's
POLL_S = 5.0  # how often the window asks the hub what waits
REQUEST_TIMEOUT_S = 10.0
LABEL = {AttentionKind.GATE: "Gate", AttentionKind.PICK: "Pick", AttentionKind.PLAN_REVIEW: "Plan review",
         AttentionKind.PARKED: "Parked", AttentionKind.FAILED_RUN: "Failed run"}  # as the page says them

Item = dict[str, Any]  # an item of GET /attention


def key_of(item: Item) -> str:
    return f"{item['kind']}:{item.get('execution_id') or ''}:{item['run_id']}"


class DesktopNotifier:
    """The session bus's notification service. ``available`` is False without one (no bus, no GTK
    bindings, not Linux): the page's own messages are then all there is."""

    def __init__(self, app_name: str, icon: Path | None, on_click: Callable[[Item], None]) -> None:
        self._app_name, self._icon, self._on_click = app_name, str(icon or ""), on_click
        self._shown: dict[int, Item] = {}  # notification id -> the item it announced
        # A click may be dispatched (on the GUI's loop) before notify's thread has read the id it answers to.
        self._clicked_first: set[int] = set()
        self._lock = threading.Lock()
        self._bus: Any = None
        try:
            from gi.repository import Gio, GLib
        except (ImportError, ValueError) as exc:
            log.info("no desktop notifications: %s", exc)
            return
        try:
            self._bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
            # Dispatched by the main context the GUI's loop runs.
            self._bus.signal_subscribe(SERVICE, SERVICE, "ActionInvoked", OBJECT_PATH, None,
                                       Gio.DBusSignalFlags.NONE, self._invoked)
        except GLib.Error as exc:
            self._bus = None
            log.info("no desktop notifications: no session bus (%s)", exc.message)

    @property
    def available(self) -> bool:
        return self._bus is not None

    def notify(self, item: Item) -> bool:
        """Announce ``item``; False when the notification service did not take it."""
        if self._bus is None:
            return False
        from gi.repository import Gio, GLib

        title = f"{LABEL.get(item['kind'], item['kind'])}: {item['project_name']}"
        body = " — ".join(str(part) for part in (item.get("node_title") or item.get("node_id"), item.get("error"))
                          if part)
        arguments = GLib.Variant("(susssasa{sv}i)", (self._app_name, 0, self._icon, title, body,
                                                    ["default", "Open"], {}, -1))
        try:
            reply = self._bus.call_sync(SERVICE, OBJECT_PATH, SERVICE, "Notify", arguments,
                                        GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, CALL_TIMEOUT_MS, None)
        except GLib.Error as exc:
            log.warning("the desktop's notification service did not take a notification: %s", exc.message)
            return False
        notification_id = reply.unpack()[0]
        with self._lock:
            self._shown[notification_id] = item
            clicked = notification_id in self._clicked_first
        if clicked:
            self._on_click(item)
        return True

    def _invoked(self, _bus: Any, _sender: str, _path: str, _interface: str, _signal: str, parameters: Any,
                 *_user_data: Any) -> None:
        notification_id, action = parameters.unpack()
        if action != "default":
            return
        with self._lock:
            item = self._shown.get(notification_id)
            if item is None:
                if len(self._clicked_first) >= CLICKS_KEPT:  # most are other programs' notifications
                    self._clicked_first.clear()
                self._clicked_first.add(notification_id)
        if item is not None:
            self._on_click(item)


class AttentionWatcher:
    """Asks the hub what waits every ``poll_s`` and announces what was not there the time before (what
    waits when the window opens is not announced: the page shows the count). A hub out of reach is
    asked again at the next turn."""

    def __init__(self, url: str, token: str, notifier: DesktopNotifier, poll_s: float = POLL_S) -> None:
        self._url, self._token, self._notifier, self._poll_s = url, token, notifier, poll_s
        self._stop = threading.Event()
        self.first_look = threading.Event()  # set once the list was read (for tests)

    def start(self) -> None:
        threading.Thread(target=self._run, name="desktop-attention", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        known: set[str] | None = None
        with httpx.Client(base_url=self._url, headers={"Authorization": f"Bearer {self._token}"},
                          timeout=REQUEST_TIMEOUT_S) as http:
            while True:
                try:
                    response = http.get("/attention")
                    response.raise_for_status()
                    items: list[Item] = response.json()["items"]
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    log.info("the Attention list could not be read: %s", exc)
                else:
                    for item in items:
                        if known is not None and key_of(item) not in known:
                            self._notifier.notify(item)
                    known = {key_of(item) for item in items}
                    self.first_look.set()
                if self._stop.wait(self._poll_s):
                    return
