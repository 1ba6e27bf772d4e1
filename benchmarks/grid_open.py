"""How long the browser UI takes to open the grid (nodes x runs) of a project with 100 nodes and 50 runs
of 100 executions each (5,000 executions seeded straight into SQLite, :mod:`benchmarks.seed`), served by
a real hub subprocess and drawn by headless Chromium (/usr/bin/chromium) at 1400x900.

``open_ms``: from the click on "Grid" until the grid is drawn (GET /projects/{id}/grid answered and its
100 rows x 50 cells are in the page, at the next frame), measured inside the page with
``performance.now()``; the grid is closed and opened again for each sample (the page stays loaded).

Run from the repository root: ``.venv/bin/python -m benchmarks.grid_open [--repeats N] [--json FILE]``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from . import seed
from .hub_subprocess import BlockingHub, hub_env
from .ui_open import run_in_browser

TOKEN = "grid-open-token-0123456789abcdef"
NODES = 100
RUNS = 50

OPEN = """async ([nodes, runs]) => {
    const view = document.querySelector('orc-dag-view');
    const button = () => view.querySelector('[data-action=grid]');
    if (view.querySelector('orc-grid-view').hidden === false) button().click(); // closed before each sample
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const started = performance.now();
    button().click();
    return new Promise((resolve) => {
        const check = () => {
            const grid = view.querySelector('orc-grid-view');
            const done = grid.dataset.state === 'drawn' && grid.querySelectorAll('tbody tr').length === nodes
                && grid.querySelectorAll('tbody td').length === nodes * runs;
            if (done) requestAnimationFrame(() => resolve(performance.now() - started));
            else requestAnimationFrame(check);
        };
        check();
    });
}"""


def measure(browser: Any, repeats: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="orchestra-grid-open-") as tmp:
        root = Path(tmp)
        conn = seed.open_db(root / "orchestra.db")
        try:
            (project,) = seed.projects(conn, 1, root / "workspaces")
            seed.layered_nodes(conn, project, NODES, layers=10)
            seed.executions(conn, [project], NODES * RUNS, per_run=NODES)
        finally:
            conn.close()
        hub = BlockingHub(hub_env(root, TOKEN), cwd=root, log_path=root / "hub.log")
        hub.start()
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{hub.url}/ui/#token={TOKEN}&project={project}")
            page.wait_for_function("() => document.querySelector('orc-dag-view')?.dataset.state === 'loaded'")
            samples = [page.evaluate(OPEN, [NODES, RUNS]) for _ in range(repeats)]
            context.close()
        finally:
            hub.stop()
    return {"nodes": NODES, "runs": RUNS, "repeats": repeats, "loadavg_at_start": os.getloadavg()[0],
            "open_ms": {"median": round(statistics.median(samples), 1), "max": round(max(samples), 1),
                        "samples": [round(x, 1) for x in samples]}}


def main() -> None:
    run_in_browser(measure, __doc__ or "")


if __name__ == "__main__":
    main()
