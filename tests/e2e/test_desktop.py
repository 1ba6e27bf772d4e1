"""``orchestra desktop``: the native window (pywebview on WebKitGTK) under Xvfb, on a running hub; a
screenshot of the window (docs/screenshot-desktop.png with ORCHESTRA_UPDATE_SCREENSHOT=1); SIGTERM
closes it in order and its size is remembered.

Skipped, saying why, without Xvfb (apt-get install xvfb), the desktop extra (pip install -e
'.[desktop]') or GTK's WebKit (apt-get install gir1.2-webkit2-4.1)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from conftest import TOKEN, LiveHub
from hubproc import ENTRY

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "artifacts" / "screenshots" / "desktop.png"
WAIT_S = 90

# Run with the desktop's DISPLAY: a PNG of the X screen (the window's size: it fills it), and how many
# distinct colours the DAG's area has (before the nodes are painted, it is one flat colour).
GRAB = """
import sys
import gi
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk
root = Gdk.get_default_root_window()
width, height = int(sys.argv[2]), int(sys.argv[3])
pixbuf = Gdk.pixbuf_get_from_window(root, 0, 0, width, height)
pixbuf.savev(sys.argv[1], "png", [], [])
dag = pixbuf.new_subpixbuf(350, 190, 500, 560)
pixels, stride, step = dag.get_pixels(), dag.get_rowstride(), dag.get_n_channels()
at = [y * stride + x * step for y in range(0, 560, 3) for x in range(0, 500, 3)]
print(len({pixels[i:i + 3] for i in at}))
"""


def skip_reason() -> str | None:
    if shutil.which("Xvfb") is None:
        return "Xvfb is missing (apt-get install xvfb)"
    if importlib.util.find_spec("webview") is None:
        return "the desktop extra is not installed (pip install -e '.[desktop]')"
    probe = subprocess.run([sys.executable, "-c", "import gi; gi.require_version('WebKit2', '4.1')"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"GTK's WebKit is missing (apt-get install gir1.2-webkit2-4.1): {probe.stderr.strip()[-200:]}"
    return None


async def test_desktop_window_shows_the_dag_and_closes_cleanly(hub: LiveHub, tmp_path: Path) -> None:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    project = await hub.create_project(name="desktop demo")
    pid = project["id"]
    await hub.create_node(pid, id="plan", title="Plan")
    await hub.create_node(pid, id="build", title="Build", depends_on=["plan"])
    await hub.create_node(pid, id="review", title="Review", depends_on=["build"])
    await hub.wait_run(await hub.launch(pid))

    xvfb = await trio.lowlevel.open_process(["Xvfb", "-displayfd", "1", "-screen", "0", "1280x820x24",
                                             "-nolisten", "tcp"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert xvfb.stdout is not None
    try:
        with trio.fail_after(WAIT_S):
            display = b""
            while not display.endswith(b"\n"):
                chunk = await xvfb.stdout.receive_some(64)
                assert chunk, "Xvfb exited"
                display += chunk
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
        env |= {"DISPLAY": f":{display.decode().strip()}", "XDG_CONFIG_HOME": str(tmp_path / "config"),
                "WEBKIT_DISABLE_COMPOSITING_MODE": "1", "LIBGL_ALWAYS_SOFTWARE": "1"}
        window = await trio.lowlevel.open_process(
            [sys.executable, str(ENTRY), "desktop", hub.url, "--token", TOKEN, "--project", pid], env=env,
            cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            # The UI shows the DAG view once it subscribes to the project.
            with trio.fail_after(WAIT_S):
                await hub.running.hub.bus.wait_for_subscribers(pid, 1)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            with trio.fail_after(WAIT_S):
                while True:  # until the snapshot is painted: each grab takes a GTK start-up
                    grab = await trio.run_process([sys.executable, "-c", GRAB, str(SCREENSHOT), "1280", "820"],
                                                  env=env, capture_stdout=True, check=True)
                    if int(grab.stdout) > 8:
                        break
            if os.environ.get("ORCHESTRA_UPDATE_SCREENSHOT"):
                shutil.copyfile(SCREENSHOT, REPO / "docs" / "screenshot-desktop.png")
        finally:
            window.send_signal(signal.SIGTERM)
            with trio.fail_after(WAIT_S):
                await window.wait()
        assert window.stdout is not None
        log = (await window.stdout.receive_some(1 << 20)).decode(errors="replace")
        assert window.returncode == 0, log
        assert json.loads((tmp_path / "config/orchestra/desktop.json").read_text()) == {"width": 1280,
                                                                                      "height": 820}
        assert (tmp_path / "config/orchestra/desktop").is_dir()  # the web view's storage, kept
    finally:
        xvfb.terminate()
        with trio.fail_after(WAIT_S):
            await xvfb.wait()
