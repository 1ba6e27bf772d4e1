"""Overlapping runs in a real browser (issue 26, item 1): with a newer run cancelled while an older one
still has its agents at work, the project list, the header, the node list and the canvas say "running"
(on 5d24be3: idle, "0/0 done", every node cancelled), and "Run all" asks first while a run is in progress."""

from __future__ import annotations

from typing import Any

import pytest
import test_ui
from test_ui import api_project, canvas, open_ui, row
from test_ui_runs import wait_execution, wait_run
from ui_support import skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    Page = Any

browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page


def test_a_cancelled_newer_run_leaves_the_older_one_shown_running_and_run_all_asks_first(
    page: Page, hub: test_ui.BrowserTestHub
) -> None:
    project_id = api_project(hub, "overlap-ui", [{"id": "x", "title": "X", "prompt": "@hang"},
                                                 {"id": "y", "title": "Y", "prompt": "@hang"}])
    with hub.api() as api:
        older = api.post("/launch", json={"project_id": project_id}).json()["run_id"]
        for node_id in ("x", "y"):
            wait_execution(api, older, node_id, "running")
        open_ui(page, hub, project_id)
        newer = api.post("/launch", json={"project_id": project_id}).json()["run_id"]
        assert api.post(f"/runs/{newer}/cancel").status_code == 202
        wait_run(api, newer)

        item = page.locator(f"orc-project-list li[data-project-id='{project_id}']")
        expect(item).to_have_attribute("data-state", "running")
        summary = page.locator("orc-dag-view .run-summary")
        expect(summary).to_have_attribute("data-run-id", older)
        expect(summary).to_contain_text(f"Run {older} running · 0/2 done")
        for node_id in ("x", "y"):
            expect(row(page, node_id)).to_have_attribute("data-status", "running")
        assert canvas(page, "cy.nodes().map(n => n.data('status'))") == ["running", "running"]
        expect(page.locator("[data-action=cancel-run]")).to_be_visible()

        # A fresh page (from the snapshot, not from live events) says the same.
        page.reload()
        open_ui(page, hub, project_id)
        for node_id in ("x", "y"):
            expect(row(page, node_id)).to_have_attribute("data-status", "running")
        expect(summary).to_have_attribute("data-run-id", older)

        # "Run all" asks first; cancelling the question launches nothing.
        page.click("[data-action=run-all]")
        dialog = page.locator("orc-launch-dialog dialog")
        expect(dialog.locator(".launch-in-progress")).to_contain_text("A run of this project is in progress")
        expect(dialog.locator(".launch-in-progress")).to_contain_text(older)
        expect(dialog.locator("[data-action=launch]")).to_have_text("Launch another run")
        dialog.locator("[data-action=cancel-launch]").click()
        expect(dialog).to_be_hidden()
        assert len(api.get("/runs", params={"project_id": project_id}).json()["runs"]) == 2

        # Once the older run ends, nothing is in progress: the nodes show the newest run again.
        assert api.post(f"/runs/{older}/cancel").status_code == 202
        wait_run(api, older)
        expect(item).to_have_attribute("data-state", "idle")
        for node_id in ("x", "y"):
            expect(row(page, node_id)).to_have_attribute("data-status", "cancelled")
        expect(summary).to_have_count(0)
