"""The desktop window's own notifications (orchestra/clients/desktop_notifications.py) against a real hub,
a real session bus (a private dbus-daemon) and a stand-in notification service (tests/fake_notifyd.py):
what waits when the window opens is not announced; a gate that starts waiting is, with its project,
node and an "Open" action, and its click reaches the window with the item; without a bus nothing is
followed and nothing raises.

Skipped, saying why, without dbus-daemon (apt-get install dbus-daemon) or the desktop extra's GTK
bindings (pip install -e '.[desktop]')."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import trio
from conftest import TOKEN, LiveHub

HERE = Path(__file__).resolve().parent
WAIT_S = 30

# The window's side, in a child process (Gio keeps one session bus per process, found from
# DBUS_SESSION_BUS_ADDRESS): follow the hub, print "watching" once the list was read, then the
# execution id of the first item clicked.
WINDOW = """
import sys, threading
from gi.repository import GLib
from orchestra.clients.desktop_notifications import AttentionWatcher, DesktopNotifier

loop = GLib.MainLoop()
def clicked(item):
    print("clicked", item["execution_id"], flush=True)
    loop.quit()
notifier = DesktopNotifier("Orchestra — vm", None, clicked)
if not notifier.available:
    sys.exit("no notification service")
watcher = AttentionWatcher(sys.argv[1], sys.argv[2], notifier, poll_s=0.1)
watcher.start()
def told() -> None:
    watcher.first_look.wait()
    print("watching", flush=True)
threading.Thread(target=told, daemon=True).start()
GLib.timeout_add_seconds(60, loop.quit)
loop.run()
watcher.stop()
"""


def skip_reason() -> str | None:
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is missing (apt-get install dbus-daemon)"
    if importlib.util.find_spec("gi") is None:
        return "the desktop extra's GTK bindings are missing (pip install -e '.[desktop]')"
    return None


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


class Lines:
    """A child process's stdout, line by line."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stdout is not None
        self._stream, self._buffer = process.stdout, b""

    async def next(self) -> str:
        with trio.fail_after(WAIT_S):
            while b"\n" not in self._buffer:
                chunk = await self._stream.receive_some(4096)
                assert chunk, f"the process ended; it printed {self._buffer!r}"
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


async def spawn(nursery: trio.Nursery, command: list[str], env: dict[str, str] | None = None) -> Lines:
    """Start ``command`` in ``nursery`` (ended when the nursery is cancelled); its stdout's lines."""
    process = await nursery.start(partial(trio.run_process, command, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, check=False))
    return Lines(process)


async def test_a_gate_that_starts_waiting_is_announced_and_its_click_opens_it(hub: LiveHub) -> None:
    before = await hub.create_project(name="Already waiting")
    await hub.create_node(before["id"], id="g", title="Old gate", kind="gate", agent=None)
    old_gate = (await hub.launch(before["id"]))["executions"][0]["id"]
    await hub.wait_execution(old_gate, {"waiting"})
    project = await hub.create_project(name="Release")
    await hub.create_node(project["id"], id="review", title="Human review", kind="gate", agent=None)
    async with trio.open_nursery() as nursery:
        bus = await spawn(nursery, ["dbus-daemon", "--session", "--nofork", "--print-address=1"])
        env = os.environ | {"DBUS_SESSION_BUS_ADDRESS": await bus.next()}
        announced = await spawn(nursery, [sys.executable, str(HERE / "fake_notifyd.py")], env)
        assert await announced.next() == "ready"
        said = await spawn(nursery, [sys.executable, "-c", WINDOW, hub.url, TOKEN], env)
        assert await said.next() == "watching"  # the old gate is known by now: it is not announced
        run = await hub.launch(project["id"])
        gate = run["executions"][0]["id"]
        assert json.loads(await announced.next()) == {"app": "Orchestra — vm", "summary": "Gate: Release",
                                                      "body": "Human review", "actions": ["default", "Open"]}
        assert await said.next() == f"clicked {gate}"
        nursery.cancel_scope.cancel()


def test_without_a_session_bus_nothing_is_followed_and_nothing_raises(tmp_path: Path) -> None:
    env = os.environ | {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    done = subprocess.run([sys.executable, "-c", WINDOW, "http://127.0.0.1:9", TOKEN], env=env,
                          capture_output=True, text=True, timeout=WAIT_S)
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (1, "no notification service")
