"""The UI for a working day, in a real browser against a real hub with fake agents: the log and the diff
maximised and restored (control and key); a 20,000-line log numbered and following its tail until scrolled
up; the grid (nodes x runs) checked cell by cell against the API, opening the execution clicked; webhook and
schedule created, edited and deleted in the UI (a refusal shows the hub's message and keeps the input); the
overview when no node is selected; no serious axe violation in these views. Screenshots go to docs/ when
ORCHESTRA_UPDATE_SCREENSHOT is set."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import test_ui
import test_ui_layout
from test_ui import api_project, canvas, open_ui, panel_status, row
from test_ui_a11y import serious_violations
from test_ui_layout import box, layered, overlap
from test_ui_runs import docs_screenshot, wait_run
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    Page = Any

browser, hub, page, sized_page = test_ui.browser, test_ui.hub, test_ui.page, test_ui_layout.sized_page
SIZES = ((800, 600), (1400, 900), (2560, 1440))
LOG = "document.querySelector('orc-execution-panel orc-event-log')"


def shots(page: Page, name: str) -> None:
    """docs/<name>-<w>x<h>.png at each size (with ORCHESTRA_UPDATE_SCREENSHOT), else one artifact."""
    if docs_screenshot("x") is None:
        shoot(page, name)
        return
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)  # let the layout settle for the picture only (no assertion follows)
        shoot(page, name, docs_screenshot(f"ui-{name}-{width}x{height}.png"))
    page.set_viewport_size({"width": 1400, "height": 900})


AT_BOTTOM = f"() => {LOG}.scrollTop + {LOG}.clientHeight >= {LOG}.scrollHeight - 30"


def wait_at_bottom(page: Page) -> None:
    """The log is scrolled to its end (checked at a frame: a flush appends, then scrolls)."""
    page.wait_for_function(AT_BOTTOM)


def test_a_20000_line_log_is_numbered_and_follows_its_tail_until_scrolled(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Long stream", [
        {"id": "long", "title": "Long", "prompt": "@lines=20000 @delay=0.0004"}])
    open_ui(page, hub, project_id)
    row(page, "long").locator("button").click()
    page.click("[data-action=run-all]")
    log = page.locator("orc-execution-panel orc-event-log")
    page.wait_for_function(f"() => Number({LOG}.dataset.count) > 800")
    expect(log).to_have_attribute("data-follow", "true")
    wait_at_bottom(page)
    numbers = page.evaluate("""() => [...document.querySelectorAll('orc-execution-panel orc-event-log .log-lines > *')]
        .slice(-50).map(e => [Number(e.dataset.line), e.textContent])""")
    assert numbers[-1][0] > 500
    # Consecutive numbers; "line K" entries keep one offset (the entries before the first line).
    assert [n for n, _ in numbers] == list(range(numbers[0][0], numbers[0][0] + 50))
    assert len({n - int(text.split()[-1]) for n, text in numbers if text.startswith("line ")}) == 1

    page.evaluate("() => { document.querySelector('orc-execution-panel orc-event-log').scrollTop = 0; }")
    expect(log).to_have_attribute("data-follow", "false")
    expect(log.locator("[data-action=follow-tail]")).to_be_visible()
    seen = int(log.get_attribute("data-count") or 0)
    page.wait_for_function(f"n => Number({LOG}.dataset.count) > n + 500", arg=seen)
    assert page.evaluate(f"() => {LOG}.scrollTop") < 5

    log.locator("[data-action=follow-tail]").click()
    expect(log).to_have_attribute("data-follow", "true")
    panel_status(page, "succeeded", timeout=90_000)
    page.wait_for_function(f"() => Number({LOG}.querySelector('.log-lines').lastElementChild.dataset.line) >= 20000")
    wait_at_bottom(page)
    page.click("[data-action=log-times]")
    expect(log).to_have_class("show-times")


def test_maximise_and_restore_the_log_and_the_diff_by_control_and_key(page: Page, hub: BrowserTestHub) -> None:
    with hub.api() as api:
        project = api.post("/projects", json={"name": "Room", "workspace": "room-repo"}).json()
        repo = Path(project["workspace"])
        repo.mkdir(parents=True, exist_ok=True)
        for args in (["init", "-q", "-b", "main"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                                                      "--allow-empty", "-m", "base"]):
            subprocess.run(["git", *args], cwd=repo, check=True)
        response = api.post(f"/projects/{project['id']}/nodes", json={
            "id": "build", "title": "Build", "agent": "claude-code", "prompt": "@write=hello.txt:hi,notes.md:more"})
        assert response.status_code == 201, response.text
    open_ui(page, hub, project["id"])
    row(page, "build").locator("button").click()
    page.click("[data-action=run-all]")
    panel_status(page, "succeeded")
    body, dag = page.locator("body"), page.locator("orc-dag-view")
    log = page.locator("orc-execution-panel orc-event-log")

    page.click(".log-bar [data-maximise=log]")
    expect(body).to_have_attribute("data-maximised", "log")
    expect(dag).to_be_hidden()
    assert (log.bounding_box() or {"width": 0})["width"] > 1300
    shots(page, "log-maximised")
    page.keyboard.press("Escape")
    expect(body).not_to_have_attribute("data-maximised", "log")
    expect(dag).to_be_visible()
    page.keyboard.press("m")
    expect(body).to_have_attribute("data-maximised", "log")
    page.keyboard.press("m")
    expect(dag).to_be_visible()

    changes = page.locator("orc-execution-panel .changes")
    expect(changes.locator(".diff-file")).to_have_count(2)
    changes.locator("[data-maximise=diff]").click()
    expect(body).to_have_attribute("data-maximised", "diff")
    expect(log).to_be_hidden()
    assert (changes.bounding_box() or {"width": 0})["width"] > 1300
    changes.locator(".diff-file[data-path='hello.txt'] > summary").click()
    expect(changes.locator(".diff-body")).to_contain_text("+hi")
    shots(page, "diff-maximised")
    changes.locator("[data-maximise=diff]").click()
    expect(dag).to_be_visible()
    page.keyboard.press("Shift+M")
    expect(body).to_have_attribute("data-maximised", "diff")
    page.keyboard.press("Escape")
    expect(dag).to_be_visible()


def make_history(api: httpx.Client, project_id: str, runs: int) -> None:
    for i in range(runs):
        body: dict[str, Any] = {"project_id": project_id} | ({"node_ids": ["n00"]} if i % 7 == 3 else {})
        response = api.post("/launch", json=body)
        assert response.status_code == 202, response.text
        wait_run(api, response.json()["run_id"])


def expected_cells(api: httpx.Client, project_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(run, node) -> (execution id, status) of the node's last execution in the run, from /executions."""
    cells: dict[tuple[str, str], tuple[str, str]] = {}
    before = None
    while True:
        params = {"project_id": project_id, "limit": 500} | ({"before": before} if before else {})
        answer = api.get("/executions", params=params).json()
        for e in answer["executions"]:  # newest first: the first seen of a (run, node) is its last
            cells.setdefault((e["run_id"], e["node_id"]), (e["id"], e["status"]))
        before = answer["next_before"]
        if not before:
            return cells


def test_the_grid_shows_each_cell_as_the_api_says_and_opens_the_execution(page: Page, hub: BrowserTestHub) -> None:
    nodes = [{"id": f"n{i:02}", "title": f"Pipeline step {i:02}", "prompt": "go",
              "depends_on": [f"n{i - 1:02}"] if i % 5 else []} for i in range(20)]
    nodes[6]["check"] = ["false"]  # fails every time: n07..n09 are skipped
    project_id = api_project(hub, "Grid history", nodes)
    with hub.api() as api:
        make_history(api, project_id, 30)
        expected = expected_cells(api, project_id)
    open_ui(page, hub, project_id)
    page.click("[data-action=grid]")
    grid = page.locator("orc-grid-view")
    expect(grid).to_have_attribute("data-state", "drawn")
    expect(grid.locator("th.grid-run")).to_have_count(30)
    expect(grid.locator("tbody tr")).to_have_count(20)
    drawn = page.evaluate("""() => [...document.querySelectorAll('orc-grid-view tbody tr')].map(tr => ({
        node: tr.dataset.nodeId, cells: [...tr.querySelectorAll('td')].map(td => {
            const b = td.querySelector('button');
            return b ? [b.dataset.executionId, b.dataset.status] : null; }) }))""")
    runs = page.evaluate(
        "() => [...document.querySelectorAll('orc-grid-view .grid-run-button')].map(b => b.dataset.runId)")
    assert [r["node"] for r in drawn] == [n["id"] for n in nodes]  # DAG order (here: creation order)
    shown = {(runs[i], r["node"]): tuple(cell) for r in drawn for i, cell in enumerate(r["cells"]) if cell}
    assert shown == expected
    assert {status for _, status in shown.values()} >= {"succeeded", "failed", "skipped"}
    shots(page, "grid")

    run_id, (execution_id, status) = next((k[0], v) for k, v in expected.items() if k[1] == "n06")
    grid.locator(f"button[data-execution-id='{execution_id}']").click()
    panel = page.locator("orc-execution-panel")
    expect(panel).to_have_attribute("data-execution-id", execution_id)
    expect(panel).to_have_attribute("data-status", status)
    grid.locator(f".grid-run-button[data-run-id='{run_id}']").click()
    expect(page.locator(f"orc-runs-view tr.run-row.selected[data-run-id='{run_id}']")).to_be_visible()


def test_webhook_and_schedule_created_edited_and_deleted_in_the_ui(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Triggered", [
        {"id": "build", "title": "Build", "prompt": "go"},
        {"id": "test", "title": "Test", "prompt": "go", "depends_on": ["build"]}])
    open_ui(page, hub, project_id)
    page.click("[data-action=triggers]")
    dialog = page.locator(".triggers-dialog")
    expect(dialog.locator("[data-role=no-webhook]")).to_be_visible()
    hook_form = dialog.locator("[data-role=webhook-form]")
    hook_form.locator("[name=secret]").fill("short")
    hook_form.locator("[name=node_ids]").fill("test")
    hook_form.locator("[type=submit]").click()
    expect(hook_form.locator(".form-error")).to_contain_text("secret")
    expect(hook_form.locator("[name=node_ids]")).to_have_value("test")  # the input is kept
    hook_form.locator("[name=secret]").fill("a-long-enough-secret-123")
    hook_form.locator("[type=submit]").click()
    expect(dialog.locator("[data-role=webhook-secret]")).to_have_text("a-long-enough-secret-123")
    expect(dialog.locator("[data-role=webhook-url]")).to_contain_text(f"/hooks/{project_id}")
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/webhook").json()["node_ids"] == ["test"]
    dialog.locator("[data-action=edit-webhook]").click()
    hook_form.locator("[name=node_ids]").fill("nope")
    hook_form.locator("[type=submit]").click()
    expect(hook_form.locator(".form-error")).to_contain_text("has no node(s) nope")
    expect(hook_form.locator("[name=node_ids]")).to_have_value("nope")
    hook_form.locator("[name=node_ids]").fill("")
    hook_form.locator("[type=submit]").click()
    expect(dialog.locator("[data-role=webhook-nodes]")).to_have_text("the whole DAG")
    old = dialog.locator("[data-role=webhook-secret]").text_content()
    dialog.locator("[data-action=rotate-secret]").click()
    expect(dialog.locator("[data-role=webhook-secret]")).not_to_have_text(old or "")

    schedule_form = dialog.locator("[data-role=schedule-form]")
    schedule_form.locator("[name=cron]").fill("every day")
    schedule_form.locator("[type=submit]").click()
    expect(schedule_form.locator(".form-error")).to_contain_text("five standard fields")
    expect(schedule_form.locator("[name=cron]")).to_have_value("every day")
    schedule_form.locator("[name=cron]").fill("0 3 * * *")
    schedule_form.locator("[type=submit]").click()
    item = dialog.locator(".schedule")
    expect(item.locator("[data-role=cron]")).to_have_text("0 3 * * *")
    expect(item.locator(".next-times li")).to_have_count(5)
    expect(item.locator(".next-times li").first).to_contain_text("03:00")
    found = serious_violations(page, "triggers dialog")
    shots(page, "triggers")
    item.locator("[data-action=edit-schedule]").click()
    schedule_form.locator("[name=cron]").fill("30 4 * * 1")
    schedule_form.locator("[type=submit]").click()
    expect(item.locator("[data-role=cron]")).to_have_text("30 4 * * 1")
    expect(item.locator(".next-times li").first).to_contain_text("04:30")
    item.locator("[data-action=enable-schedule]").uncheck()
    expect(item).to_contain_text("Disabled")
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/schedules").json()["schedules"][0]["enabled"] is False
    item.locator("[data-action=delete-schedule]").click()
    item.locator("[data-action=delete-schedule]").click()
    expect(dialog.locator(".schedule")).to_have_count(0)
    dialog.locator("[data-action=delete-webhook]").click()
    dialog.locator("[data-action=delete-webhook]").click()
    expect(dialog.locator("[data-role=no-webhook]")).to_be_visible()
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/webhook").status_code == 404
        assert api.get(f"/projects/{project_id}/schedules").json()["schedules"] == []
    assert not found, "\n".join(found)


def test_the_overview_and_the_grid_have_no_serious_axe_violation(sized_page: Callable[[int, int], Page],
                                                                  hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Overview", [{"id": "a", "title": "Alpha", "prompt": "go"},
                                               {"id": "b", "title": "Beta", "prompt": "go", "depends_on": ["a"]}])
    with hub.api() as api:
        make_history(api, project_id, 3)
    page = sized_page(1400, 900)
    open_ui(page, hub, project_id)
    overview = page.locator("orc-project-overview")
    expect(overview.locator("tbody tr")).to_have_count(3)
    expect(overview.locator("[data-role=overview-totals]")).to_contain_text("executions")
    expect(overview).to_have_attribute("data-attention", "0")  # GET /attention answered: nothing waits here
    expect(overview.locator(".overview-attention")).to_contain_text("Nothing waits for you")
    found = serious_violations(page, "overview")
    shots(page, "overview")
    page.click("[data-action=grid]")
    expect(page.locator("orc-grid-view")).to_have_attribute("data-state", "drawn")
    found += serious_violations(page, "grid")
    assert not found, "\n".join(found)


def shared_prefix_dag(count: int = 100, layers: int = 10) -> list[dict[str, Any]]:
    """test_ui_layout's layered DAG, every title starting with the same 16 characters."""
    nodes = layered(count, layers)
    for node in nodes:
        node["title"] = f"Pipeline stage: {node['id']} checks"
    return nodes


def test_a_100_node_dag_with_shared_title_prefixes_has_distinct_labels_and_tips(
        sized_page: Callable[[int, int], Page], hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Shared prefixes", shared_prefix_dag())
    page = sized_page(1400, 900)
    open_ui(page, hub, project_id)
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.nodes().length === 100")
    page.click("[data-action=fit]")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")  # drawn
    # The text as drawn: after Cytoscape's own ellipsis (its cache of the wrapped text), else the label.
    drawn = "cy.nodes().map(n => n.style('label')).filter(Boolean)"
    labels = canvas(page, drawn)
    assert len(labels) == 100, labels[:5]  # drawn after Fit at 1400x900 (full titles, wrapped: not cut)
    assert len(set(labels)) == 100, sorted(labels)[:20]
    # Zoomed out to compact labels (cut with an ellipsis to the node's width): what tells them apart is
    # drawn, and short enough that the cut leaves it whole (a node holds ~12 characters there).
    page.evaluate("() => { document.querySelector('orc-dag-canvas').cy.zoom(0.5); }")
    compact = canvas(page, drawn)
    assert len(compact) == len(set(compact)) == 100, sorted(compact)[:20]
    assert not any("Pipeline" in label for label in compact), compact[:5]
    # None is cut: each drawn label's width fits the node's text-max-width (what Cytoscape cuts at).
    cut = page.evaluate("""() => { const cy = document.querySelector('orc-dag-canvas').cy;
        const ctx = document.createElement('canvas').getContext('2d');
        return cy.nodes().filter(n => { const label = n.style('label'); if (!label) return false;
            ctx.font = `${n.style('font-weight')} ${n.style('font-size')} ${n.style('font-family')}`;
            return ctx.measureText(label).width > parseFloat(n.style('text-max-width'));
        }).map(n => n.style('label')); }""")
    assert not cut, cut[:5]
    page.click("[data-action=fit]")
    point = page.evaluate("id => document.querySelector('orc-dag-canvas').nodeCenter(id)", "t57")
    page.mouse.move(point["x"] - 3, point["y"])
    page.mouse.move(point["x"], point["y"])
    tip = page.locator(".node-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("Pipeline stage: t57 checks")
    expect(tip).to_contain_text("not run yet")
    expect(tip).to_contain_text("claude-code")
    shots(page, "dag-labels")
    page.mouse.move(2, 2)
    page.locator("orc-dag-view .find input").fill("t12")  # the keyboard's way: find it, the tip names it
    page.keyboard.press("Enter")
    expect(tip).to_contain_text("Pipeline stage: t12 checks")


def test_after_fit_at_2560_no_node_lies_under_the_legend_zoom_or_minimap(
        sized_page: Callable[[int, int], Page], hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Overlays", layered(60, 3))
    page = sized_page(2560, 1440)
    open_ui(page, hub, project_id)
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.nodes().length === 60")
    expect(page.locator("orc-dag-view .legend")).to_have_attribute("open", "")
    page.click("[data-action=fit]")
    boxes = page.evaluate("""() => { const el = document.querySelector('orc-dag-canvas');
        const c = el.container.getBoundingClientRect();
        return el.cy.nodes().map(n => { const b = n.renderedBoundingBox({includeLabels: false});
            return {x: c.left + b.x1, y: c.top + b.y1, width: b.w, height: b.h}; }); }""")
    overlays = [box(page, selector) for selector in ("orc-dag-view .legend", "orc-dag-view .zoom-controls")]
    if page.locator("orc-dag-minimap").is_visible():
        overlays.append(box(page, "orc-dag-minimap"))
    covered = [(node, overlay) for node in boxes for overlay in overlays if overlap(node, overlay) > 0]
    assert not covered, covered[:3]


def test_node_list_durations_never_overflow_their_column(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Durations", [{"id": f"d{i}", "title": f"A long node title number {i} " * 3,
                                                 "prompt": "hi"} for i in range(3)])
    with hub.api() as api:
        make_history(api, project_id, 1)
    open_ui(page, hub, project_id)
    for width in (800, 1400, 2560):
        page.set_viewport_size({"width": width, "height": 900})
        cells = page.evaluate("""() => [...document.querySelectorAll('orc-node-list .node-duration')].map(
            e => [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().left])""")
        assert cells and all(scroll <= client for scroll, client, _ in cells), (width, cells)
        assert len({round(left) for _, _, left in cells}) == 1, (width, cells)  # one column, row after row
