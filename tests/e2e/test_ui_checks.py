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


def test_the_node_editor_sets_a_check_candidates_and_a_plan(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Edited", [])
    open_ui(page, hub, project_id)
    page.click("[data-action=add-node]")
    form = page.locator("orc-node-editor form")
    form.get_by_label("Title", exact=True).fill("Tests pass")
    form.get_by_label("Prompt", exact=True).fill("Make the tests pass")
    extras = form.locator("details.node-extras")
    extras.locator("summary").click()
    expect(extras.locator(".plan-fields")).to_be_hidden()
    extras.locator("[name=check]").fill("pytest\n-q\ntests/test dir")
    extras.locator("[name=max_repairs]").fill("2")
    extras.locator("[name=candidates]").fill("1")  # the hub refuses it, naming the field
    form.locator("[type=submit]").click()
    expect(form.get_by_role("alert")).to_contain_text("candidates")
    page.locator("orc-toast-list .toast.error [aria-label=Dismiss]").click()  # it covers the form's buttons
    extras.locator("[name=candidates]").fill("")
    form.locator("[type=submit]").click()
    expect(form.locator("h3")).to_have_text("Node tests-pass")
    with hub.api() as api:
        node = api.get(f"/projects/{project_id}/nodes/tests-pass").json()
    assert (node["check"], node["max_repairs"], node["candidates"]) == (["pytest", "-q", "tests/test dir"], 2, None)

    extras.locator("[name=check]").fill("")
    extras.locator("[name=max_repairs]").fill("0")
    extras.locator("[name=candidates]").fill("claude-code, codex")
    form.locator("[type=submit]").click()
    expect(form.locator(".form-status")).to_have_text("Saved.")
    with hub.api() as api:
        node = api.get(f"/projects/{project_id}/nodes/tests-pass").json()
    assert (node["check"], node["max_repairs"], node["candidates"]) == (None, 0, ["claude-code", "codex"])

    form.locator("[name=kind]").select_option("plan")
    extras.locator("[name=candidates]").fill("")
    extras.locator("[name=max_tasks]").fill("5")
    extras.locator("[name=review_plan]").check()
    shoot(page, "node-extras-1400")
    form.locator("[type=submit]").click()
    expect(form.locator(".form-status")).to_have_text("Saved.")
    with hub.api() as api:
        node = api.get(f"/projects/{project_id}/nodes/tests-pass").json()
    assert (node["kind"], node["check"], node["candidates"], node["max_tasks"], node["review_plan"]) == (
        "plan", None, None, 5, True)

    # placement: Ray resources a worker must offer; a bad amount is refused naming the field
    extras.locator("[name=placement]").fill("claude=lots")
    form.locator("[type=submit]").click()
    expect(form.get_by_role("alert")).to_contain_text("placement")
    page.locator("orc-toast-list .toast.error [aria-label=Dismiss]").click()
    assert extras.locator("[name=placement]").input_value() == "claude=lots"  # what was typed stays
    extras.locator("[name=placement]").fill("claude=1, gpu=0.5")
    form.locator("[type=submit]").click()
    expect(form.locator(".form-status")).to_have_text("Saved.")
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/nodes/tests-pass").json()["placement"] == {"claude": 1, "gpu": 0.5}
    extras.locator("[name=placement]").fill("")
    form.locator("[type=submit]").click()  # disables the button until the hub has answered
    expect(form.locator("[type=submit]")).to_be_enabled()
    expect(form.locator(".form-status")).to_have_text("Saved.")
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/nodes/tests-pass").json()["placement"] is None
