"""Landing in a real browser against a real hub: the node editor makes a land node, the runs view lands a
finished run with it (its "Land" action pushes the run's branch to a bare repository; a refusal is
shown as a toast) and shows how the run landed."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import test_ui
from test_ui import api_project, open_ui
from test_ui_runs import open_runs, run_row, wait_run
from ui_support import BrowserTestHub, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    Page = Any

browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_a_land_node_from_the_editor_then_land_from_the_runs_view(
        page: Page, hub: BrowserTestHub, tmp_path: Path) -> None:
    project_id = api_project(hub, "Landing", [{"id": "a", "title": "A", "prompt": "@write=a.txt:from-a"}])
    bare = tmp_path / "acme" / "widgets.git"
    bare.mkdir(parents=True)
    git(bare, "init", "-q", "--bare")
    with hub.api() as api:
        workspace = Path(api.get(f"/projects/{project_id}").json()["workspace"])
        workspace.mkdir(parents=True, exist_ok=True)
        git(workspace, "init", "-q", "-b", "main")
        (workspace / "README.md").write_text("base\n")
        git(workspace, "add", "README.md")
        git(workspace, "commit", "-q", "-m", "base")
        run_id = api.post("/launch", json={"project_id": project_id}).json()["run_id"]
        run = wait_run(api, run_id)
        assert run["status"] == "succeeded", run
        # The land node comes after the run, made in the node editor: the Land action lands that run's work.
        open_ui(page, hub, project_id)
        page.click("[data-action=add-node]")
        form = page.locator("orc-node-editor form")
        form.locator("[name=kind]").select_option("land")
        expect(form.locator(".agent-fields")).to_be_hidden()
        form.get_by_label("Title", exact=True).fill("Ship")
        form.locator("[name=land_mode]").select_option("push")
        form.locator("[name=land_branch]").fill("agents/ship")
        form.locator("input[name=depends_on][value=a]").check()
        form.locator("[type=submit]").click()
        expect(form.locator("h3")).to_have_text("Node ship")
        node = api.get(f"/projects/{project_id}/nodes/ship").json()
        assert (node["kind"], node["land"], node["agent"], node["depends_on"]) == (
            "land", {"mode": "push", "branch": "agents/ship"}, None, ["a"])
        open_runs(page)
        run_row(page, run_id).click()
        detail = page.locator("orc-runs-view .run-detail")
        detail.locator("[data-action=land-viewed-run]").click()
        expect(page.locator("orc-toast-list")).to_contain_text("no remote named 'origin'")
        expect(detail.locator(".run-landed")).to_have_count(0)
        git(workspace, "remote", "add", "origin", f"file://{bare}")
        detail.locator("[data-action=land-viewed-run]").click()
        branch = "agents/ship"
        expect(detail.locator(".run-landed")).to_contain_text(f"Landed: pushed {branch}")
        assert git(bare, "rev-parse", f"refs/heads/{branch}") == api.get(f"/runs/{run_id}").json()["landed"]["commit"]


def test_the_node_editor_picks_a_forge_for_a_pull_request_only(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Forges", [{"id": "a", "title": "A", "prompt": "p"}])
    open_ui(page, hub, project_id)
    page.click("[data-action=add-node]")
    form = page.locator("orc-node-editor form")
    form.locator("[name=kind]").select_option("land")
    form.get_by_label("Title", exact=True).fill("Ship")
    expect(form.locator("[name=land_forge]")).to_be_hidden()  # merge, the default mode, has no forge
    form.locator("[name=land_mode]").select_option("pull_request")
    expect(form.locator("[name=land_forge]")).to_be_visible()
    form.locator("[name=land_forge]").select_option("gitlab")
    form.locator("input[name=depends_on][value=a]").check()
    form.locator("[type=submit]").click()
    expect(form.locator("h3")).to_have_text("Node ship")
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/nodes/ship").json()["land"] == {"mode": "pull_request",
                                                                                "forge": "gitlab"}
        expect(form.locator("[name=land_forge]")).to_have_value("gitlab")  # the editor shows the stored forge
        form.locator("[name=land_mode]").select_option("push")  # a push has no forge: it is not sent
        expect(form.locator("[name=land_forge]")).to_be_hidden()
        with page.expect_response(lambda r: r.request.method == "PATCH" and r.url.endswith("/nodes/ship")) as saved:
            form.locator("[type=submit]").click()
        assert saved.value.status == 200 and saved.value.json()["land"] == {"mode": "push"}
        assert api.get(f"/projects/{project_id}/nodes/ship").json()["land"] == {"mode": "push"}
