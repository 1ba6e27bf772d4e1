"""The execution panel shows a node's check and its repair turns as steps: the check's verdict with
its output folded, the failed turn linked to the repair that continued it, 'repair' in the history."""

from __future__ import annotations

import sys

import pytest
import test_ui
from test_ui import api_project, open_ui, panel_status, row
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page

# Passes once status.txt says "fixed"; its output carries the fake agent's directive that fixes it.
FIX_ON_REPAIR = ("import pathlib, sys; t = pathlib.Path('status.txt').read_text().strip(); "
                 "print('status is ' + t); print('to fix: @' + 'write=status.txt:fixed'); "
                 "sys.exit(0 if t == 'fixed' else 1)")


def test_a_check_and_its_repair_turn_are_steps_of_the_node(page: Page, hub: BrowserTestHub) -> None:
    check = [sys.executable, "-c", FIX_ON_REPAIR]
    project_id = api_project(hub, "Checked", [{"id": "fix", "title": "Fix the status",
                                               "prompt": "@write=status.txt:broken", "check": check, "max_repairs": 2}])
    open_ui(page, hub, project_id)
    row(page, "fix").locator("button").click()
    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-all]")
    panel_status(page, "succeeded")
    panel = page.locator("orc-execution-panel")
    expect(panel.locator("[data-role=check]")).to_contain_text("up to 2 repairs")
    passed = panel.locator(".ev-check.is-ok")
    expect(passed.locator("summary")).to_contain_text("Check passed")
    expect(passed.locator("pre")).to_have_text("status is fixed\nto fix: @write=status.txt:fixed\n")
    expect(panel.locator("[data-role=parent]")).to_contain_text("Repair of")
    history = panel.locator(".history-list li")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("repair")
    shoot(page, "checks-repaired-1400")

    panel.locator("[data-role=parent] button").click()  # the turn whose check failed
    panel_status(page, "failed")
    failed = panel.locator(".ev-check.is-error")
    expect(failed.locator("summary")).to_contain_text("Check failed (exit 1)")
    expect(failed).to_have_attribute("open", "")  # a failure's output shows at once
    expect(failed.locator("pre")).to_contain_text("status is broken")
    expect(panel.locator(".exec-error")).to_contain_text("failed with exit code 1")
    expect(panel.locator("[data-role=follow-ups]")).to_contain_text("Repaired by")
    panel.get_by_label("Search the agent output").fill("status is broken")  # a check's output is searchable
    expect(panel.locator("orc-event-log")).to_have_attribute("data-matches", "1")
    panel.get_by_label("Search the agent output").fill("")
    shoot(page, "checks-failed-1400")
    page.set_viewport_size({"width": 800, "height": 600})
    shoot(page, "checks-failed-800")
