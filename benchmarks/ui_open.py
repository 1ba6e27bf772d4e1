"""How long the browser UI takes to open a big project: 100 nodes in 10 layers and 10,000 stored
executions (100 runs of 100), seeded straight into SQLite (:mod:`benchmarks.seed`), served by a real
hub subprocess, drawn by headless Chromium (/usr/bin/chromium) at 1400x900.

Three moments, each measured inside the page with ``performance.now()`` (no test-side clock):

- ``cold_ms``: a fresh page load with the project in the address (modules, login, project list,
  WebSocket snapshot) until the canvas holds the 100 nodes, each painted with its latest status;
- ``switch_ms``: from opening the project from another one (what a click in the list does) until the same;
- ``select_ms``: from selecting a node with 100 executions until its panel shows the latest one and
  the first page (50) of its history.

Run from the repository root: ``.venv/bin/python -m benchmarks.ui_open [--repeats N] [--json FILE]``.
tests/e2e/test_ui_layout.py runs :func:`measure` once and checks what is drawn (not how fast).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import seed
from .hub_subprocess import BlockingHub, hub_env
from .machine import describe

TOKEN = "ui-open-token-0123456789abcdef"
NODES = 100
LAYERS = 10
EXECUTIONS = 10_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# Installed in the page as window.benchDrawn: resolves with performance.now() at the first frame where
# the big project is drawn.
DRAWN = """() => { window.benchDrawn = ([projectId, nodes]) => new Promise((resolve) => {
    const check = () => {
        const store = window.orchestra?.store, cy = document.querySelector('orc-dag-canvas')?.cy;
        const done = store?.projectId === projectId && store.loaded && cy && cy.nodes().length === nodes
            && cy.nodes().every((n) => n.data('status') === 'succeeded');
        if (done) resolve(performance.now()); else requestAnimationFrame(check);
    };
    check();
}); }"""

SWITCH = """async ([projectId, otherId, nodes]) => {
    const actions = window.orchestra.actions, store = window.orchestra.store;
    actions.openProject(otherId);
    await new Promise((resolve) => {
        const wait = () => (store.loaded ? resolve() : requestAnimationFrame(wait));
        wait();
    });
    const started = performance.now();
    actions.openProject(projectId);
    return (await window.benchDrawn([projectId, nodes])) - started;
}"""

SELECT = """async (nodeId) => {
    const started = performance.now();
    window.orchestra.store.selectNode(nodeId);
    return new Promise((resolve) => {
        const check = () => {
            const panel = document.querySelector('orc-execution-panel');
            const summary = panel.querySelector('.history summary')?.textContent;
            const shown = panel.dataset.status === 'succeeded' && summary === 'History (50)';
            if (shown) resolve(performance.now() - started); else requestAnimationFrame(check);
        };
        check();
    });
}"""


def seed_database(root: Path) -> tuple[str, str]:
    """The big project and an empty one to switch from, in ``root``/orchestra.db."""
    conn = seed.open_db(root / "orchestra.db")
    try:
        big, other = seed.projects(conn, 2, root / "workspaces")
        seed.layered_nodes(conn, big, NODES, layers=LAYERS)
        seed.executions(conn, [big], EXECUTIONS, per_run=NODES)
    finally:
        conn.close()
    return big, other


def measure(browser: Any, repeats: int = 5) -> dict[str, Any]:
    """Start a hub on a freshly seeded database and time the three moments ``repeats`` times each."""
    with tempfile.TemporaryDirectory(prefix="orchestra-ui-open-") as tmp:
        root = Path(tmp)
        big, other = seed_database(root)
        hub = BlockingHub(hub_env(root, TOKEN), cwd=root, log_path=root / "hub.log")
        hub.start()
        try:
            samples: dict[str, list[float]] = {"cold_ms": [], "switch_ms": [], "select_ms": []}
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                try:
                    page = context.new_page()
                    page.set_default_timeout(30_000)
                    page.goto(f"{hub.url}/ui/#token={TOKEN}&project={big}")
                    page.evaluate(DRAWN)
                    samples["cold_ms"].append(page.evaluate("args => window.benchDrawn(args)", [big, NODES]))
                    samples["switch_ms"].append(page.evaluate(SWITCH, [big, other, NODES]))
                    samples["select_ms"].append(page.evaluate(SELECT, "n0"))
                    history = page.locator("orc-execution-panel .history-list button").count()
                    drawn = page.evaluate("document.querySelector('orc-dag-canvas').cy.nodes().length")
                finally:
                    context.close()
        finally:
            hub.stop()
    summary = {name: {"median": round(statistics.median(v), 1), "max": round(max(v), 1),
                      "samples": [round(x, 1) for x in v]} for name, v in samples.items()}
    return {"nodes": NODES, "executions": EXECUTIONS, "repeats": repeats, "drawn_nodes": drawn,
            "history_rows": history, **summary}


def run_in_browser(measure: Callable[[Any, int], dict[str, Any]], doc: str) -> None:
    """The command line of a browser benchmark: ``measure(browser, repeats)`` in Debian's chromium, its
    result printed as JSON (and written with ``--json``), with the machine described."""
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            result = {"machine": describe(), **measure(browser, args.repeats)}
        finally:
            browser.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def main() -> None:
    run_in_browser(measure, __doc__ or "")


if __name__ == "__main__":
    main()
