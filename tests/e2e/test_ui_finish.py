"""The UI's finishing touches, in a real browser against a real hub with fake agents: the diff's file list
with +/- counts beside the diffs, unified or side by side (remembered across a reload), coloured by the
file's language, and a 5,000-line file drawn lazily; at 800x600 the runs view keeps its Run and Started
columns and the header stays one row (Grid and Triggers in "More"). No serious axe violation in these views.
Screenshots go to docs/ when ORCHESTRA_UPDATE_SCREENSHOT is set."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_ui
import test_ui_layout
from test_ui import api_project, open_ui, panel_status, row
from test_ui_a11y import serious_violations
from test_ui_working_day import make_history, shots
from ui_support import BrowserTestHub, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    Page = Any

browser, hub, page, sized_page = test_ui.browser, test_ui.hub, test_ui.page, test_ui_layout.sized_page


def project_with_repo(hub: BrowserTestHub, name: str, files: dict[str, str], prompt: str) -> str:
    """A project whose workspace is a git repository holding ``files`` at its base commit, and one node
    ("build") whose fake agent runs ``prompt``."""
    with hub.api() as api:
        project = api.post("/projects", json={"name": name, "workspace": f"{name.lower()}-repo"}).json()
        repo = Path(project["workspace"])
        repo.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            (repo / path).write_text(text)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
                        "-m", "base"], cwd=repo, check=True)
        response = api.post(f"/projects/{project['id']}/nodes", json={
            "id": "build", "title": "Build", "agent": "claude-code", "prompt": prompt})
        assert response.status_code == 201, response.text
    return str(project["id"])


def run_build(page: Page, hub: BrowserTestHub, project_id: str) -> None:
    open_ui(page, hub, project_id)
    row(page, "build").locator("button").click()
    page.click("[data-action=run-all]")
    panel_status(page, "succeeded")


def test_the_diff_lists_files_toggles_unified_and_split_remembered_and_colours_code(
        sized_page: Callable[[int, int], Page], hub: BrowserTestHub) -> None:
    project_id = project_with_repo(hub, "Diffs", {"app.py": "def old():\n    return 1\n"},
                                   "@write=app.py:x=None,notes.md:more")
    page = sized_page(1400, 900)
    run_build(page, hub, project_id)
    changes = page.locator("orc-execution-panel .changes")
    index = changes.locator(".diff-index")
    expect(index.locator("[data-path]")).to_have_count(2)
    expect(index.locator("[data-path='app.py']")).to_contain_text("+1")
    expect(index.locator("[data-path='app.py']")).to_contain_text("\u22122")
    # Beside the diffs when there is room: the list's right edge is left of the files' left edge.
    changes.locator("[data-maximise=diff]").click()
    list_box, files_box = index.bounding_box(), changes.locator(".diff-files").bounding_box()
    assert list_box and files_box and list_box["x"] + list_box["width"] <= files_box["x"] + 1

    index.locator("[data-path='app.py']").click()  # the list opens the file
    body = changes.locator(".diff-file[data-path='app.py'] .diff-body")
    expect(body).to_have_class("diff-body unified")
    expect(body).to_contain_text("+x=None")
    expect(body).to_have_attribute("data-language", "python")
    expect(body.locator(".del .hljs-keyword")).to_have_text(["def", "return"])  # coloured like the log's code blocks
    expect(body.locator(".add .hljs-literal")).to_have_text("None")

    changes.locator("[data-diff-mode=split]").click()
    expect(changes.locator("[data-diff-mode=split]")).to_have_attribute("aria-pressed", "true")
    expect(body).to_have_class("diff-body split")
    rows = body.locator(".dr:not(.whole)")
    expect(rows).to_have_count(2)  # two removals paired with one addition
    assert rows.nth(0).locator(".sd").nth(0).inner_text().strip() == "def old():"
    assert rows.nth(0).locator(".sd").nth(1).inner_text().strip() == "x=None"
    assert rows.nth(0).locator(".sd.del").get_attribute("data-n") == "1"
    expect(rows.nth(1).locator(".sd.empty")).to_have_count(1)
    assert rows.nth(0).bounding_box()["width"] > 1000  # type: ignore[index]
    shots(page, "diff-split")
    found = serious_violations(page, "diff split")

    page.reload()  # the choice is remembered
    row(page, "build").locator("button").click()
    panel_status(page, "succeeded")
    expect(changes.locator("[data-diff-mode=split]")).to_have_attribute("aria-pressed", "true")
    changes.locator(".diff-file[data-path='notes.md'] > summary").click()
    expect(changes.locator(".diff-file[data-path='notes.md'] .diff-body")).to_have_class("diff-body split")
    changes.locator("[data-diff-mode=unified]").click()
    expect(changes.locator(".diff-file[data-path='notes.md'] .diff-body")).to_have_class("diff-body unified")
    found += serious_violations(page, "diff unified")
    assert not found, "\n".join(found)


def test_a_5000_line_file_diff_is_drawn_a_step_at_a_time_in_both_layouts(page: Page, hub: BrowserTestHub) -> None:
    big = "".join(f"value_{i} = {i}\n" for i in range(5000))
    project_id = project_with_repo(hub, "Bigdiff", {"big.py": big}, "@write=big.py:gone=True")
    run_build(page, hub, project_id)
    changes = page.locator("orc-execution-panel .changes")
    section = changes.locator(".diff-file[data-path='big.py']")
    section.locator("summary").click()
    body = section.locator(".diff-body")
    expect(body.locator(".dl.del")).not_to_have_count(0)
    assert body.locator(".dl").count() == 2000  # the first step only
    more = section.locator("[data-action=diff-more]")
    expect(more).to_contain_text("not shown")
    changes.locator("[data-diff-mode=split]").click()
    expect(body).to_have_class("diff-body split")
    assert section.locator(".diff-body .dr").count() == 2000
    section.locator("[data-action=diff-more]").click()
    expect(section.locator(".diff-body .dr")).to_have_count(4000)
    section.locator("[data-action=diff-more]").click()
    expect(section.locator("[data-action=diff-more]")).to_be_hidden()
    expect(section.locator(".diff-body .sd.del").last).to_have_attribute("data-n", "5000")


def toolbar_click(page: Page, action: str) -> None:
    """Click the DAG view's ``action``, opening the toolbar's "More" first when it went there."""
    button = page.locator(f"orc-dag-view [data-action={action}]")
    if not button.is_visible():
        page.click("orc-dag-view .toolbar [data-action=more]")
    button.click()


def test_at_800x600_the_runs_view_keeps_run_and_started_and_the_header_keeps_one_row(
        sized_page: Callable[[int, int], Page], hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "A project with a rather long name for a small window", [
        {"id": "a", "title": "Alpha", "prompt": "go"},
        {"id": "b", "title": "Beta", "prompt": "go", "depends_on": ["a"]}])
    with hub.api() as api:
        make_history(api, project_id, 2)
        runs = api.get("/runs", params={"project_id": project_id}).json()["runs"]
    page = sized_page(800, 600)
    open_ui(page, hub, project_id)
    # The header: title, live, Runs on one row; Grid and Triggers in the toolbar's "More" menu.
    title = page.locator("orc-dag-view .dag-title")
    tops = title.evaluate("el => [...el.children].filter(c => c.offsetParent).map(c => c.getBoundingClientRect().top)")
    assert len(tops) >= 3 and max(tops) - min(tops) < 8, tops
    for action in ("grid", "triggers"):
        expect(page.locator(f"orc-dag-view .toolbar [data-action={action}]")).to_have_count(1)
    toolbar_click(page, "grid")
    expect(page.locator("orc-grid-view")).to_have_attribute("data-state", "drawn")
    toolbar_click(page, "grid")
    expect(page.locator("orc-grid-view")).to_be_hidden()
    page.set_viewport_size({"width": 1400, "height": 900})  # room again: back in the header, More gone
    for action in ("grid", "triggers"):
        expect(page.locator(f"orc-dag-view .dag-title [data-action={action}]")).to_be_visible()
    expect(page.locator("orc-dag-view .toolbar [data-action=more]")).to_be_hidden()
    page.set_viewport_size({"width": 800, "height": 600})

    page.click("[data-action=runs]")
    table = page.locator("orc-runs-view .runs-table")
    expect(table.locator("tbody tr")).to_have_count(len(runs))
    for column in ("col-run", "col-started"):
        expect(table.locator(f"th.{column}")).to_be_visible()
        cell = table.locator(f"tbody tr td.{column}").first
        expect(cell).to_be_visible()
        assert (cell.bounding_box() or {"width": 0})["width"] > 20
        assert cell.get_attribute("title"), column  # the whole value on hover
    first = table.locator("tbody tr").first
    assert first.locator("td.col-run").get_attribute("title") == first.get_attribute("data-run-id")
    wrap = page.locator("orc-runs-view .runs-table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), "the runs table scrolls sideways"
    found = serious_violations(page, "runs at 800x600")
    shots(page, "runs-narrow")
    assert not found, "\n".join(found)


def test_the_node_editor_sets_a_nodes_network(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Network", [{"id": "fetch", "title": "Fetch", "prompt": "go"}])
    nodes_url = f"/projects/{project_id}/nodes"
    open_ui(page, hub, project_id)
    row(page, "fetch").locator("button").click()
    page.locator("[data-tab=node]").click()
    form = page.locator("orc-node-editor form")
    network = form.locator("[name=network]")
    expect(network).to_have_value("")  # the template's, and the option says which that is
    expect(network.locator("option[value='']")).to_have_text("The template's (full)")

    for chosen, stored in (("none", "none"), ("full", "full"), ("", None)):
        network.select_option(chosen)
        form.locator("[type=submit]").click()
        expect(form.locator(".form-status")).to_have_text("Saved.")
        with hub.api() as api:
            assert api.get(f"{nodes_url}/fetch").json()["network"] == stored
        expect(network).to_have_value(chosen)

    # A new node made in the editor whose agent has no network.
    page.click("[data-action=add-node]")
    expect(form.locator("h3")).to_have_text("New node")
    form.locator("[name=title]").fill("Offline")
    form.locator("[name=prompt]").fill("go")
    form.locator("[name=network]").select_option("none")
    form.locator("[type=submit]").click()
    expect(form.locator("h3")).to_have_text("Node offline")
    with hub.api() as api:
        assert api.get(f"{nodes_url}/offline").json()["network"] == "none"
        # A value the sandbox does not know is refused, and nothing changes.
        refused = api.patch(f"{nodes_url}/offline", json={"network": "half"})
        assert refused.status_code == 422, refused.text
        assert "network" in refused.text
        assert api.get(f"{nodes_url}/offline").json()["network"] == "none"
    found = serious_violations(page, "node editor")
    shots(page, "node-network")
    assert not found, "\n".join(found)
