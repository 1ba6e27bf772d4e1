"""A plan node's tasks appear live in the DAG below it, marked as its tasks and drawn as a group that
collapses into one node, and run before its downstream."""

from __future__ import annotations

import json

import pytest
import test_ui
from test_ui import api_project, canvas, click_node, open_ui, panel_status, row
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page

TASKS = [{"id": "api", "title": "Write-the-API", "prompt": "api"},
         {"id": "ui", "title": "Build-the-UI", "prompt": "ui"},
         {"id": "docs", "title": "Document-both", "prompt": "docs", "depends_on": ["api", "ui"]}]


def test_a_plan_grows_the_dag_live(page: Page, hub: BrowserTestHub) -> None:
    answer = "@result=" + json.dumps({"tasks": TASKS}, separators=(",", ":"))
    project_id = api_project(hub, "Planned", [
        {"id": "plan", "title": "Plan the feature", "kind": "plan", "prompt": answer},
        {"id": "ship", "title": "Ship", "prompt": "ship", "depends_on": ["plan"]}])
    open_ui(page, hub, project_id)
    expect(row(page, "plan").locator(".kind-plan")).to_have_text("plan")
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('plan').style('shape') "
                           "=== 'cut-rectangle'")
    page.click("[data-action=run-all]")
    expect(row(page, "ship")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    for task in ("api", "ui", "docs"):
        expect(row(page, f"plan.{task}").locator(".kind-planned")).to_have_text("from plan")
        expect(row(page, f"plan.{task}")).to_have_attribute("data-status", "succeeded")
    edges = canvas(page, "cy.edges().map((e) => `${e.source().id()}->${e.target().id()}`).sort()")
    assert edges == sorted(["plan->ship", "plan->plan.api", "plan->plan.ui", "plan.api->plan.docs",
                            "plan.ui->plan.docs", "plan.docs->ship"])
    page.click("[data-action=fit]")
    assert canvas(page, "cy.$id('group:plan').children().map((n) => n.id()).sort()") == [
        "plan.api", "plan.docs", "plan.ui"]
    assert canvas(page, "cy.$id('group:plan').data('label')") == "▾ 3 tasks from Plan the feature"
    shoot(page, "plan-grown-1400")
    page.set_viewport_size({"width": 800, "height": 600})
    shoot(page, "plan-grown-800")

    # A tap on the group's box (not on a task) collapses it into one node that sums its tasks up.
    page.set_viewport_size({"width": 1400, "height": 900})
    page.click("[data-action=fit]")
    corner = page.evaluate("""() => {
        const canvas = document.querySelector('orc-dag-canvas');
        const b = canvas.cy.$id('group:plan').renderedBoundingBox({ includeLabels: false });
        const box = canvas.container.getBoundingClientRect();
        return { x: box.left + b.x1 + 5, y: box.top + b.y1 + 5 };
    }""")
    page.mouse.click(corner["x"], corner["y"])
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('plan.api').empty()")
    collapsed = canvas(page, "({ parent: cy.$id('group:plan').isParent(), status: cy.$id('group:plan').data('status'),"
                       " label: cy.$id('group:plan').data('label') })")
    assert collapsed == {"parent": False, "status": "succeeded", "label": "▸ 3 tasks from Plan the feature\n✓ 3"}
    edges = canvas(page, "cy.edges().map((e) => `${e.source().id()}->${e.target().id()}`).sort()")
    assert edges == sorted(["plan->ship", "plan->group:plan", "group:plan->ship"])
    for task in ("api", "ui", "docs"):  # the list still names every task
        expect(row(page, f"plan.{task}")).to_have_attribute("data-status", "succeeded")
    row(page, "plan.api").locator("button").click()  # a hidden task, selected: its group is
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('group:plan').selected()")
    shoot(page, "plan-collapsed-1400")

    page.reload()  # remembered in this browser, per project
    page.wait_for_function("() => { const cy = document.querySelector('orc-dag-canvas')?.cy;"
                           " return cy && cy.$id('group:plan').nonempty() && cy.$id('plan.api').empty(); }")
    click_node(page, "group:plan")  # a collapsed group expands on a tap anywhere on it
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('group:plan').isParent()")
    assert canvas(page, "cy.$id('plan.docs').parent().id()") == "group:plan"


def test_review_a_plan_edit_it_and_approve_it(page: Page, hub: BrowserTestHub) -> None:
    answer = "@result=" + json.dumps({"tasks": TASKS}, separators=(",", ":"))
    project_id = api_project(hub, "Reviewed", [
        {"id": "plan", "title": "Plan the feature", "kind": "plan", "review_plan": True, "prompt": answer}])
    open_ui(page, hub, project_id)
    row(page, "plan").locator("button").click()
    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-all]")
    panel_status(page, "waiting")
    box = page.locator("orc-execution-panel").get_by_role("region", name="Gate decision")
    expect(box.locator("h4")).to_have_text("Waiting for the plan's review")
    plan = box.get_by_label("Task list (JSON)")
    expect(plan).to_have_value(json.dumps({"tasks": TASKS}, indent=2))
    shoot(page, "plan-review-1400")
    plan.fill("{not json")
    box.locator("[data-action=approve]").click()
    expect(box.get_by_role("alert")).to_contain_text("The task list is not JSON")
    plan.fill(json.dumps({"tasks": [{"id": "only", "title": "Only-this", "prompt": "one"}]}))
    box.locator("[data-action=approve]").click()
    expect(row(page, "plan.only")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row(page, "plan.api")).to_have_count(0)
