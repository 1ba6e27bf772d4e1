"""A person picks among a best-of-N node's candidates in the browser: the waiting pick lists them, the
comparison shows their diffs side by side, and the candidate picked is what downstream builds on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import test_ui
from test_ui import open_ui, panel_status, row
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def test_pick_a_candidate_after_comparing_their_diffs(page: Page, hub: BrowserTestHub) -> None:
    with hub.api() as api:
        project = api.post("/projects", json={"name": "Best of three", "workspace": "best-of-three"}).json()
        repo = Path(project["workspace"])
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("base\n")
        git(repo, "add", "README.md")
        git(repo, "commit", "-q", "-m", "base")
        for node in ({"id": "draft", "title": "Draft the page", "agent": "claude-code",
                      # a result with colour codes (issue 26: shown raw in the Compare dialog before)
                      "prompt": "@write=page.html:draft @result=\x1b[31mcoloured\x1b[0m",
                      "candidates": ["claude-code", "codex", "gemini"]},
                     {"id": "after", "title": "Polish", "agent": "claude-code", "prompt": "polish",
                      "depends_on": ["draft"]}):
            assert api.post(f"/projects/{project['id']}/nodes", json=node).status_code == 201
    open_ui(page, hub, project["id"])
    row(page, "draft").locator("button").click()
    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-all]")
    panel_status(page, "waiting")
    box = page.locator("orc-execution-panel").get_by_role("region", name="Gate decision")
    expect(box.locator("h4")).to_have_text("Waiting for a pick")
    listed = box.locator(".candidate-list li")
    expect(listed).to_have_count(3)
    expect(listed.nth(1)).to_contain_text("Candidate 2 · codex")
    expect(box.locator("[data-action=approve]")).to_have_count(0)  # a pick names its candidate
    shoot(page, "candidates-pick-1400")

    box.locator("[data-action=compare]").click()
    dialog = page.get_by_role("dialog", name="Candidates side by side")
    expect(dialog).to_be_visible()
    columns = dialog.locator(".compare-column")
    expect(columns).to_have_count(3)
    for i in range(3):
        expect(columns.nth(i).locator(".diff-file[open] .diff-body")).to_contain_text("+draft")
        expect(columns.nth(i).locator(".candidate-result")).to_have_text("coloured")  # drawn, no escape codes
        expect(columns.nth(i).locator(".candidate-result .ansi-fg-red")).to_have_text("coloured")
    assert "\x1b" not in box.locator(".candidate-list").inner_text()
    shoot(page, "candidates-compare-1400")
    page.set_viewport_size({"width": 800, "height": 600})
    shoot(page, "candidates-compare-800")
    page.set_viewport_size({"width": 1400, "height": 900})
    chosen = columns.nth(1).get_attribute("data-candidate")
    columns.nth(1).locator("[data-action=pick]").click()
    expect(dialog).to_be_hidden()
    panel_status(page, "succeeded")
    expect(row(page, "after")).to_have_attribute("data-status", "succeeded", timeout=30_000)

    with hub.api() as api:
        runs = api.get("/runs", params={"project_id": project["id"]}).json()["runs"]
        run = api.get(f"/runs/{runs[0]['id']}").json()
    by_id = {e["id"]: e for e in run["executions"]}
    (after,) = [e for e in run["executions"] if e["node_id"] == "after"]
    assert after["base_commit"] == by_id[chosen]["commit_sha"]
    assert by_id[chosen]["agent"] == "codex"
