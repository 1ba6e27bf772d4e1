"""The browser UI asks for a launch's inputs: a launch whose nodes' prompts use {{inputs.NAME}} opens
the launch dialog with a field for each (cancel launches nothing; the values go in the launch and are
offered again next time); a DAG without inputs launches at once."""

from __future__ import annotations

import json

import pytest
import test_ui
from test_ui import api_project, open_ui, row
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page


def runs(hub: BrowserTestHub, project_id: str) -> list[dict[str, object]]:
    with hub.api() as api:
        found: list[dict[str, object]] = api.get("/runs", params={"project_id": project_id}).json()["runs"]
        return found


def test_a_launch_asks_for_the_inputs_its_prompts_use(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Release", [
        {"id": "build", "title": "Build", "prompt": "Build {{inputs.version}} for {{ inputs.env }}"},
        {"id": "notes", "title": "Notes", "prompt": "Notes for {{inputs.version}}", "depends_on": ["build"]}])
    open_ui(page, hub, project_id)
    page.click("[data-action=run-all]")
    dialog = page.get_by_role("dialog", name="Launch the whole DAG")
    inputs = dialog.locator("fieldset.launch-inputs")
    expect(inputs).to_contain_text("Launch inputs")
    assert inputs.locator("input").evaluate_all("els => els.map(e => e.dataset.input)") == ["env", "version"]
    page.set_viewport_size({"width": 800, "height": 600})
    shoot(page, "launch-inputs-800x600")
    page.set_viewport_size({"width": 1400, "height": 900})
    shoot(page, "launch-inputs-1400x900")
    dialog.locator("[data-action=cancel-launch]").click()
    expect(dialog).to_be_hidden()
    assert runs(hub, project_id) == []  # cancelled: nothing was launched

    page.click("[data-action=run-all]")
    inputs.get_by_label("version").fill("1.2")
    inputs.get_by_label("env").fill("prod")
    dialog.locator("[data-action=launch]").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "notes")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    [run] = runs(hub, project_id)
    assert run["inputs"] == {"version": "1.2", "env": "prod"}
    prompts = [json.loads(p.read_text())["prompt"] for p in hub.records.glob("*.json")]
    assert "Build 1.2 for prod" in prompts

    # Again from 'notes': only its input is asked, offered with the last run's value; Escape cancels.
    row(page, "notes").locator("button").click()
    page.click("[data-action=run-from]")
    dialog = page.get_by_role("dialog", name='Launch "Notes" and what depends on it')
    fields = dialog.locator("fieldset.launch-inputs input")
    expect(fields).to_have_count(1)
    assert fields.evaluate_all("els => els.map(e => [e.dataset.input, e.value])") == [["version", "1.2"]]
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert len(runs(hub, project_id)) == 1


def test_a_dag_without_inputs_launches_at_once(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Plain", [{"id": "one", "title": "One", "prompt": "hi"}])
    open_ui(page, hub, project_id)
    page.click("[data-action=run-all]")
    expect(row(page, "one")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(page.get_by_role("dialog")).to_have_count(0)
