"""The runs view and the live project list, in a real browser against a real hub with fake agents: pick
an older run and see the canvas and the timeline show that run (a retry is a bar of its own); cancel and
re-run from the runs view; a gate's wait on the timeline, and the viewed run going on live; a run started
with plain HTTP shows in every open UI within a second, with no polling and no reload."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import test_ui
from test_ui import api_project, canvas, open_ui, row
from ui_support import REPO, TOKEN, BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - the whole module is skipped
    Browser = Page = Any

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page
FINAL = {"succeeded", "failed", "cancelled"}


def docs_screenshot(name: str) -> Path | None:
    """docs/<name> when ORCHESTRA_UPDATE_SCREENSHOT is set (the README's pictures), else None."""
    return REPO / "docs" / name if os.environ.get("ORCHESTRA_UPDATE_SCREENSHOT") else None


def wait_run(api: httpx.Client, run_id: str, statuses: set[str] = FINAL) -> dict[str, Any]:
    """Poll the hub (from the test, not the page) until the run is in one of ``statuses``."""
    deadline = time.monotonic() + 30
    while True:
        run = api.get(f"/runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} is still {run['status']}"
        time.sleep(0.1)


def wait_execution(api: httpx.Client, run_id: str, node_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        executions = api.get("/executions", params={"run_id": run_id, "node_id": node_id}).json()["executions"]
        if executions and executions[0]["status"] == status:
            return
        assert time.monotonic() < deadline, f"{node_id} of {run_id}: {executions}"
        time.sleep(0.1)


def open_runs(page: Page) -> None:
    page.click("[data-action=runs]")
    expect(page.locator("orc-runs-view")).to_be_visible()
    expect(page.locator("orc-node-list")).to_be_hidden()


def run_row(page: Page, run_id: str):
    return page.locator(f"orc-runs-view tr[data-run-id='{run_id}']")


def node_status(page: Page, node_id: str) -> str:
    return str(canvas(page, "cy.$id(arg).data('status')", node_id))


def bar_left(bar: Any) -> float:
    return float(bar.evaluate("el => el.getBoundingClientRect().left"))


def tokens_of(totals: dict[str, Any]) -> str:
    return f"{totals['input_tokens'] + totals['output_tokens']:,}"


def test_an_older_run_shows_on_the_canvas_with_its_timeline(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "History", [
        {"id": "plan", "title": "Plan", "prompt": "plan it"},
        {"id": "build", "title": "Build", "prompt": "@fail", "retries": 1, "depends_on": ["plan"]},
        {"id": "ship", "title": "Ship", "prompt": "ship it", "depends_on": ["build"]},
    ])
    with hub.api() as api:
        older = wait_run(api, api.post("/launch", json={"project_id": project_id}).json()["run_id"])
        assert older["status"] == "failed"
        assert api.patch(f"/projects/{project_id}/nodes/build", json={"prompt": "build it"}).status_code == 200
        newer = wait_run(api, api.post("/launch", json={"project_id": project_id}).json()["run_id"])
        assert newer["status"] == "succeeded"
        project_totals = api.get(f"/projects/{project_id}").json()["totals"]
    open_ui(page, hub, project_id)
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('build').data('status') === "
                           "'succeeded'")
    open_runs(page)
    runs = page.locator("orc-runs-view tbody tr")
    expect(runs).to_have_count(2)
    assert [runs.nth(i).get_attribute("data-run-id") for i in range(2)] == [newer["id"], older["id"]]
    for run in (newer, older):
        cells = run_row(page, run["id"]).locator("td")
        expect(cells.nth(0)).to_have_text(run["status"])
        expect(cells.nth(2)).to_have_text("all nodes")
        expect(cells.nth(5)).to_have_text(tokens_of(run["totals"]))
    expect(page.locator("[data-role=project-totals]")).to_contain_text(
        f"Project total: {tokens_of(project_totals)} tokens")

    # The older run: the canvas shows its statuses, the timeline its executions in order.
    run_row(page, older["id"]).click()
    expect(run_row(page, older["id"])).to_have_attribute("aria-selected", "true")
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('build').data('status') === 'failed'")
    assert [node_status(page, n) for n in ("plan", "build", "ship")] == ["succeeded", "failed", "skipped"]
    expect(row(page, "build")).to_have_attribute("data-status", "failed")  # the node list follows (hidden)
    timeline = page.locator("orc-run-timeline")
    expect(timeline.locator(".tl-row")).to_have_count(3)
    assert [timeline.locator(".tl-row").nth(i).get_attribute("data-node-id") for i in range(3)] == [
        "plan", "build", "ship"]
    build_bars = timeline.locator(".tl-row[data-node-id=build] .tl-exec")
    expect(build_bars).to_have_count(2)
    assert [build_bars.nth(i).get_attribute("data-attempt") for i in range(2)] == ["1", "2"]
    assert [build_bars.nth(i).get_attribute("data-status") for i in range(2)] == ["failed", "failed"]
    expect(build_bars.nth(1).locator(".tl-attempt")).to_have_text("#2")
    plan_bar = timeline.locator(".tl-row[data-node-id=plan] .tl-exec")
    ship_bar = timeline.locator(".tl-row[data-node-id=ship] .tl-exec")
    expect(ship_bar).to_have_attribute("data-status", "skipped")
    expect(ship_bar.locator(".tl-seg")).to_have_count(1)  # it never started: queued until skipped
    # Each one ran after the one before: plan, build, build's retry.
    ran = [bar.locator(".tl-seg[data-span=running]") for bar in (plan_bar, build_bars.nth(0), build_bars.nth(1))]
    lefts = [bar_left(segment) for segment in ran]
    assert lefts == sorted(lefts) and len(set(lefts)) == 3, lefts
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")
    for width, height, name in ((1400, 900, "runs-timeline"), (800, 600, "runs-timeline-800")):
        page.set_viewport_size({"width": width, "height": height})
        page.click("[data-action=fit]")
        shoot(page, name, docs_screenshot("screenshot-runs.png") if width == 1400 else None)
    page.set_viewport_size({"width": 1440, "height": 900})

    # Back to the latest: the canvas shows the newest execution of each node again.
    page.locator("[data-action=show-latest]").click()
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('build').data('status') === "
                           "'succeeded'")
    expect(timeline).to_be_hidden()
    run_row(page, older["id"]).click()
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('ship').data('status') === 'skipped'")
    # The execution panel shows the viewed run's execution of a node too (its retry, the last one).
    older_build = [e for e in older["executions"] if e["node_id"] == "build"][-1]
    newer_build = next(e for e in newer["executions"] if e["node_id"] == "build")
    assert older_build["attempt"] == 2
    timeline.locator(".tl-row[data-node-id=build] .tl-label").click()
    panel = page.locator("orc-execution-panel")
    expect(panel.locator(".facts code").first).to_have_text(older_build["id"])
    expect(panel).to_have_attribute("data-status", "failed")
    page.locator("[data-action=show-latest]").click()
    expect(panel.locator(".facts code").first).to_have_text(newer_build["id"])
    expect(panel).to_have_attribute("data-status", "succeeded")
    run_row(page, older["id"]).click()
    expect(panel.locator(".facts code").first).to_have_text(older_build["id"])
    # A follow-up sent while an older run is viewed stays in the panel as it runs and ends.
    timeline.locator(".tl-row[data-node-id=plan] .tl-label").click()
    older_plan = next(e for e in older["executions"] if e["node_id"] == "plan")
    expect(panel.locator(".facts code").first).to_have_text(older_plan["id"])
    box = panel.get_by_role("region", name="Follow-up")
    box.get_by_label("Follow up").fill("And the tests")
    box.get_by_role("button", name="↪ Send follow-up").click()
    expect(panel.locator("[data-role=parent]")).to_contain_text(f"Follow-up of {older_plan['id']}")
    expect(panel).to_have_attribute("data-status", "succeeded")
    expect(panel.locator("[data-role=parent]")).to_contain_text(f"Follow-up of {older_plan['id']}")
    page.click("[data-action=runs]")  # closing the runs view shows the latest again
    expect(panel.locator(".facts code").first).not_to_have_text(older_plan["id"])
    shown_plan = panel.locator(".facts code").first.text_content()
    with hub.api() as api:
        plans = api.get("/executions", params={"project_id": project_id, "node_id": "plan"}).json()["executions"]
    latest_plan = plans[0]
    assert shown_plan == latest_plan["id"] and latest_plan["parent_execution_id"] == older_plan["id"]
    row(page, "build").click()
    expect(panel.locator(".facts code").first).to_have_text(newer_build["id"])
    expect(page.locator("orc-node-list")).to_be_visible()
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('ship').data('status') === "
                           "'succeeded'")


def test_cancel_and_rerun_from_the_runs_view(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Reruns", [
        {"id": "prep", "title": "Prep", "prompt": "prepare"},
        {"id": "wait", "title": "Wait", "prompt": "@hang", "depends_on": ["prep"]},
    ])
    with hub.api() as api:
        first = api.post("/launch", json={"project_id": project_id}).json()["run_id"]
        wait_execution(api, first, "wait", "running")
        open_ui(page, hub, project_id)
        open_runs(page)
        run_row(page, first).click()
        detail = page.locator("orc-runs-view .run-detail")
        expect(detail).to_contain_text(first)
        page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('wait').data('status') === "
                               "'running'")
        detail.locator("[data-action=cancel-viewed-run]").click()
        expect(run_row(page, first).locator("td").first).to_have_text("cancelled")
        assert api.get(f"/runs/{first}").json()["status"] == "cancelled"
        expect(detail.locator("[data-action=cancel-viewed-run]")).to_have_count(0)
        page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('wait').data('status') === "
                               "'cancelled'")

        # Re-run the whole DAG: a new run, live in the list, launched as the first was.
        detail.locator("[data-action=rerun-viewed-run]").click()
        rows = page.locator("orc-runs-view tbody tr")
        expect(rows).to_have_count(2)
        second = rows.first.get_attribute("data-run-id")
        assert second and second != first
        expect(rows.first.locator("td").nth(2)).to_have_text("all nodes")
        assert api.get(f"/runs/{second}").json()["node_ids"] is None
        wait_execution(api, second, "wait", "running")
        run_row(page, second).click()
        detail.locator("[data-action=cancel-viewed-run]").click()
        expect(run_row(page, second).locator("td").first).to_have_text("cancelled")

        # A run from one node is re-run from that node.
        third = api.post("/launch", json={"project_id": project_id, "node_ids": ["wait"]}).json()["run_id"]
        expect(run_row(page, third).locator("td").nth(2)).to_have_text("from wait")
        run_row(page, third).click()
        detail.locator("[data-action=rerun-viewed-run]").click()
        # The third run is still in progress: the launch asks first (issue 26), then goes ahead.
        dialog = page.locator("orc-launch-dialog dialog")
        expect(dialog.locator(".launch-in-progress")).to_contain_text(third)
        dialog.locator("[data-action=launch]").click()
        expect(rows).to_have_count(4)
        fourth = rows.first.get_attribute("data-run-id")
        assert fourth not in (first, second, third)
        assert api.get(f"/runs/{fourth}").json()["node_ids"] == ["wait"]
        for run_id in (third, fourth):
            wait_execution(api, run_id, "wait", "running")
            assert api.post(f"/runs/{run_id}/cancel").status_code == 202
            wait_run(api, run_id)
        expect(run_row(page, fourth).locator("td").first).to_have_text("cancelled")


def test_a_gate_waits_on_the_timeline_and_the_run_goes_on_live(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Gated", [{"id": "draft", "title": "Draft", "prompt": "draft it"}])
    with hub.api() as api:
        gate = api.post(f"/projects/{project_id}/nodes", json={
            "id": "review", "kind": "gate", "title": "Review", "depends_on": ["draft"]})
        assert gate.status_code == 201, gate.text
        run_id = api.post("/launch", json={"project_id": project_id}).json()["run_id"]
        wait_execution(api, run_id, "review", "waiting")
        open_ui(page, hub, project_id)
        open_runs(page)
        run_row(page, run_id).click()
        review = page.locator("orc-run-timeline .tl-row[data-node-id=review] .tl-exec")
        expect(review).to_have_attribute("data-status", "waiting")
        expect(review.locator(".tl-seg[data-span=waiting]")).to_have_count(1)
        expect(review.locator(".tl-seg[data-span=running]")).to_have_count(0)
        (execution,) = api.get("/executions", params={"run_id": run_id, "node_id": "review"}).json()["executions"]
        assert api.post(f"/executions/{execution['id']}/approve", json={}).status_code == 200
        expect(review).to_have_attribute("data-status", "succeeded")  # live, from the project's stream
        expect(run_row(page, run_id).locator("td").first).to_have_text("succeeded")
        page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.$id('review').data('status') === "
                               "'succeeded'")


@pytest.fixture
def second_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_run_started_with_plain_http_shows_in_every_open_ui_within_a_second(
    page: Page, second_page: Page, hub: BrowserTestHub
) -> None:
    project_id = api_project(hub, "Watched", [{"id": "slow", "title": "Slow", "prompt": "@hang"}])
    other_id = api_project(hub, "Other", [{"id": "a", "title": "A", "prompt": "hi"}])
    project_reads: list[str] = []
    pages = (page, second_page)
    for browser_page in pages:
        browser_page.on("request", lambda request: project_reads.append(request.url)
                        if "/projects" in request.url else None)
        open_ui(browser_page, hub)
        expect(browser_page.locator(f"li[data-project-id='{project_id}']")).to_have_attribute("data-state", "idle")
        browser_page.evaluate("() => { window.notReloaded = true; }")
    page.locator(f"li[data-project-id='{other_id}'] .project-open").click()  # one page has a project open
    expect(page.locator("orc-dag-view")).to_have_attribute("data-state", "loaded")
    reads_before = len(project_reads)

    # Plain HTTP, as curl would: no browser is involved in starting the run.
    with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {TOKEN}"}) as curl:
        launched = curl.post("/launch", json={"project_id": project_id})
        assert launched.status_code == 202, launched.text
        run_id = launched.json()["run_id"]
        for browser_page in pages:
            item = browser_page.locator(f"li[data-project-id='{project_id}']")
            expect(item).to_have_attribute("data-state", "running", timeout=1_000)
            expect(item.locator(".badge")).to_have_text("running")
        created = curl.post("/projects", json={"name": "Made by curl"}).json()
        for browser_page in pages:
            expect(browser_page.locator(f"li[data-project-id='{created['id']}']")).to_contain_text(
                "Made by curl", timeout=1_000)
        wait_execution(curl, run_id, "slow", "running")
        assert curl.post(f"/runs/{run_id}/cancel").status_code == 202
        for browser_page in pages:
            item = browser_page.locator(f"li[data-project-id='{project_id}']")
            expect(item).to_have_attribute("data-state", "idle")
            expect(item.locator(".project-meta")).to_contain_text("last run cancelled")
        assert curl.delete(f"/projects/{created['id']}").status_code == 204
        for browser_page in pages:
            expect(browser_page.locator(f"li[data-project-id='{created['id']}']")).to_have_count(0)
    for browser_page in pages:
        assert browser_page.evaluate("() => window.notReloaded") is True
    # Nothing asked for the project list meanwhile: it came over the hub feed (the open project's own
    # reads, e.g. its totals, are GET /projects/{id}).
    assert [url for url in project_reads[reads_before:] if url.split("?")[0].endswith("/projects")] == []
