"""The desktop window: the hub's own ``ui/`` files in a native window (pywebview: WebKitGTK on Linux,
WKWebView on macOS, WebView2 on Windows), for ``orchestra desktop [NAME|URL]`` and ``orchestra connect``.

Installed with ``pip install 'orchestra-hub[desktop]'`` (on Linux the GTK bindings come from the
system: ``apt-get install python3-gi gir1.2-webkit2-4.1``, or PyGObject from PyPI). The window keeps
its web storage in ``~/.config/orchestra/desktop/`` (so the UI's hub-URL presets and tokens survive
a restart of the window) and its size in ``~/.config/orchestra/desktop.json``. What enters the hub's
Attention list is announced by the desktop's own notifications (:mod:`orchestra.clients.desktop_notifications`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from orchestra.clients import known_hubs

ICON = Path(__file__).with_name("icon.png")
DEFAULT_SIZE = (1280, 820)


def available() -> str | None:
    """None when a window can be opened; otherwise why not (one line)."""
    try:
        import webview  # noqa: F401
    except ImportError as exc:
        return f"the desktop extra is not installed ({exc}): pip install 'orchestra-hub[desktop]'"
    if sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
        try:
            import gi

            gi.require_version("Gtk", "3.0")
            gi.require_version("WebKit2", "4.1")
        except (ImportError, ValueError) as exc:
            return f"GTK's web view is missing ({exc}): apt-get install python3-gi gir1.2-webkit2-4.1"
    return None


def _state_path() -> Path:
    return known_hubs.config_dir() / "desktop.json"


def remembered_size() -> tuple[int, int]:
    try:
        state = json.loads(_state_path().read_text())
        width, height = int(state["width"]), int(state["height"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_SIZE
    return (width, height) if 400 <= width <= 10000 and 300 <= height <= 10000 else DEFAULT_SIZE


def remember_size(width: int, height: int) -> None:
    path = _state_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps({"width": width, "height": height}) + "\n")
    except OSError:
        pass


def open_window(url: str, token: str, *, name: str, until: Callable[[], object] | None = None,
                project: str | None = None) -> bool:
    """Show ``url``'s UI logged in with ``token`` until the user closes the window (True), ``until``
    returns (False: the window is closed for them) or SIGINT/SIGTERM arrive (True: the window is
    closed in order). Blocks; must run on the main thread."""
    import webview

    from orchestra.clients.desktop_notifications import AttentionWatcher, DesktopNotifier

    width, height = remembered_size()
    icon = ICON if ICON.exists() else None
    fragment = f"token={token}" + (f"&project={quote(project)}" if project else "")
    window = webview.create_window(f"Orchestra — {name}", f"{url}/ui/#{fragment}", width=width, height=height,
                                   min_size=(480, 360))
    assert window is not None

    def open_item(item: dict[str, Any]) -> None:  # a notification clicked: the page opens the item's run
        link = f"token={token}&project={quote(item['project_id'])}&run={quote(item['run_id'])}"
        if item.get("execution_id"):
            link += f"&execution={quote(item['execution_id'])}"  # and the Attention view on it
        window.restore()
        window.load_url(f"{url}/ui/#{link}")

    notifier = DesktopNotifier(f"Orchestra — {name}", icon,
                               lambda item: threading.Thread(target=open_item, args=(item,), daemon=True).start())
    watcher = AttentionWatcher(url, token, notifier) if notifier.available else None
    size = [width, height]
    ended_by_until = threading.Event()

    def resized(new_width: int, new_height: int) -> None:
        size[:] = [new_width, new_height]

    window.events.resized += resized

    def watch() -> None:
        if until is not None:
            until()
            ended_by_until.set()
            window.destroy()

    def started() -> None:
        if until is not None:
            threading.Thread(target=watch, name="desktop-until", daemon=True).start()
        if watcher is not None:
            watcher.start()

    # The GUI's main loop runs in C, where Python's signal handlers wait: SIGINT and SIGTERM are
    # blocked in every thread and one thread takes them, closing the window in order.
    stops = {signal.SIGINT, signal.SIGTERM}
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)

        def stop_on_signal() -> None:
            signal.sigwait(stops)
            window.destroy()

        threading.Thread(target=stop_on_signal, name="desktop-signals", daemon=True).start()
    storage = known_hubs.config_dir() / "desktop"
    storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        webview.start(started, private_mode=False, storage_path=str(storage),
                      icon=str(icon) if icon else None)
    finally:
        if watcher is not None:
            watcher.stop()
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    remember_size(size[0], size[1])
    return not ended_by_until.is_set()


def run(args: Any, settings: Any) -> int:
    """``orchestra desktop [NAME|URL]``: a saved hub (or a URL, or this machine's hub) in a window."""
    reason = available()
    if reason is not None:
        print(f"orchestra: cannot open a window: {reason}", file=sys.stderr)
        return 1
    try:
        hub = known_hubs.resolve(args.hub, args.token, settings)
    except known_hubs.HubNotFound as exc:
        print(f"orchestra: {exc}", file=sys.stderr)
        return 1
    import httpx

    try:
        httpx.get(f"{hub.url}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        print(f"orchestra: no hub answers at {hub.url}: {exc}", file=sys.stderr)
        return 1
    name = args.hub if args.hub and "://" not in args.hub else hub.url.split("://", 1)[-1]
    try:
        open_window(hub.url, hub.token, name=name, project=args.project)
    except KeyboardInterrupt:
        pass
    return 0


def add_command(commands: Any) -> None:
    parser = commands.add_parser("desktop", help="open a hub's UI in a native window (the desktop extra)")
    parser.add_argument("hub", nargs="?", metavar="NAME|URL",
                        help="a saved hub or a URL (default: this machine's hub, else the only saved one)")
    parser.add_argument("--token", help="API token (default: ORCHESTRA_TOKEN, else the saved hub's)")
    parser.add_argument("--project", help="open this project (its id)")
