"""The browser UI manages agent templates and budgets against a real hub with fake agents: add a
template and see whether the hub finds its CLI, delete it; a refused add keeps what was typed; the
node editor marks an agent the hub cannot run and a launch that would use it asks first; a node
budget and a run budget set in the UI stop the agent."""

from __future__ import annotations

from typing import Any

import pytest
import test_ui
from test_ui import api_project, open_ui, panel_status, row
from test_ui_hub_actions import docs_screenshot
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Locator, Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Locator
    from typing import Any as Page

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page

# Reports interim costs 0.01, 0.02, 0.08, 0.2 (Claude's format), then hangs: only a budget ends it.
SPENDER = "@costs=0.01,0.02,0.08,0.2 @delay=0.05 @hang"


def templates(hub: BrowserTestHub) -> dict[str, dict[str, Any]]:
    with hub.api() as api:
        return {t["id"]: t for t in api.get("/agent-templates").json()["agent_templates"]}


def open_templates(page: Page) -> Locator:
    page.click("[data-action=templates]")
    view = page.locator("dialog.templates-dialog")
    expect(view).to_be_visible()
    return view


def entry(view: Locator, template_id: str) -> Locator:
    return view.locator(f"li.template[data-template-id='{template_id}']")


def fill_template(form: Locator, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def runs(hub: BrowserTestHub, project_id: str) -> list[dict[str, Any]]:
    with hub.api() as api:
        return list(api.get(f"/runs?project_id={project_id}").json()["runs"])


def ended_run(page: Page, hub: BrowserTestHub, project_id: str) -> dict[str, Any]:
    """The project's newest run, once the page has shown that no run is going on any more."""
    expect(page.locator("orc-dag-view .run-summary")).to_have_count(0, timeout=30_000)
    with hub.api() as api:
        newest = runs(hub, project_id)[0]
        return dict(api.get(f"/runs/{newest['id']}").json())


def test_add_a_template_see_its_availability_and_delete_it(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Uses templates", [{"id": "one", "title": "One", "prompt": "hi"}])
    open_ui(page, hub, project_id)
    view = open_templates(page)
    for builtin in ("claude-code", "codex", "gemini"):
        expect(entry(view, builtin)).to_contain_text("built in")
        expect(entry(view, builtin).locator("[data-action=delete-template]")).to_have_count(0)

    form = view.locator("form.template-form")
    fill_template(form, {
        "id": "thinker", "name": "Thinker", "command": f"{hub.thinker}\n--fast\n{{prompt}}",
        "output": "claude-stream-json", "default_model": "deep-1",
        "resume_command": f"{hub.thinker}\n--resume\n{{session_id}}\n{{prompt}}",
        "stdin_prompt": "replace", "stdin_argument": "-", "env": "THINK_MODE=deep\nTHINK_LEVEL=3"})
    form.get_by_role("button", name="Add template").click()

    added = entry(view, "thinker")
    expect(added).to_have_attribute("data-availability", "available")
    expect(added.locator(".badge.avail")).to_have_text("available")
    expect(added.locator(".avail-detail")).to_contain_text(str(hub.thinker))
    expect(added.locator(".argv code")).to_have_text([str(hub.thinker), "--fast", "{prompt}"])
    expect(added).to_contain_text("can resume a session")
    expect(added).to_contain_text('on stdin, {prompt} replaced by "-"')
    expect(added).to_contain_text("THINK_MODE, THINK_LEVEL")
    expect(form.locator("[name=id]")).to_have_value("")  # the form is cleared for the next one
    stored = templates(hub)["thinker"]
    assert stored["command"] == [str(hub.thinker), "--fast", "{prompt}"]
    assert stored["resume_command"] == [str(hub.thinker), "--resume", "{session_id}", "{prompt}"]
    assert stored["stdin_prompt"] == {"argument": "-"}
    assert stored["env"] == {"THINK_MODE": "deep", "THINK_LEVEL": "3"}
    assert (stored["output"], stored["default_model"], stored["builtin"]) == ("claude-stream-json", "deep-1", False)
    assert stored["availability"]["available"] is True and stored["availability"]["path"] == str(hub.thinker)

    # The node editor offers it.
    view.locator("[data-action=close-templates]").click()
    expect(view).to_be_hidden()
    row(page, "one").locator("button").click()
    page.locator("[data-tab=node]").click()
    expect(page.locator("orc-node-editor [name=agent] option[value=thinker]")).to_have_text("Thinker (thinker)")

    view = open_templates(page)
    delete = entry(view, "thinker").locator("[data-action=delete-template]")
    delete.click()
    expect(delete).to_have_text("Click again to delete")
    delete.click()
    expect(entry(view, "thinker")).to_have_count(0)
    assert "thinker" not in templates(hub)
    expect(entry(view, "claude-code")).to_have_count(1)


def test_a_refused_add_shows_the_hubs_message_and_keeps_the_input(page: Page, hub: BrowserTestHub) -> None:
    open_ui(page, hub)
    view = open_templates(page)
    form = view.locator("form.template-form")
    typed = {"id": "mycli", "name": "My CLI", "command": "mycli\n--ask", "output": "text", "env": "MODE=fast",
             "default_model": "m1", "stdin_prompt": "omit"}
    fill_template(form, typed)
    form.get_by_role("button", name="Add template").click()
    expect(form.locator(".form-error")).to_have_text("command must pass the prompt as its own argument: '{prompt}'")
    expect(page.locator("orc-toast-list .toast.error").last).to_contain_text("Adding the template failed")
    for name, value in typed.items():
        expect(form.locator(f"[name={name}]")).to_have_value(value)
    assert "mycli" not in templates(hub)

    # Fixed, but now the resume command is wrong: the hub names it; everything stays.
    form.locator("[name=command]").fill("mycli\n--ask\n{prompt}")
    form.locator("[name=resume_command]").fill("mycli\n--again")
    form.get_by_role("button", name="Add template").click()
    expect(form.locator(".form-error")).to_contain_text("resume_command must start with an executable")
    expect(form.locator("[name=command]")).to_have_value("mycli\n--ask\n{prompt}")
    expect(form.locator("[name=resume_command]")).to_have_value("mycli\n--again")
    expect(form.locator("[name=stdin_prompt]")).to_have_value("omit")

    # A taken id: 409, in the hub's words.
    form.locator("[name=resume_command]").fill("")
    form.locator("[name=id]").fill("codex")
    form.get_by_role("button", name="Add template").click()
    expect(form.locator(".form-error")).to_have_text("agent template 'codex' already exists")
    expect(form.locator("[name=name]")).to_have_value("My CLI")
    assert set(templates(hub)) == {"claude-code", "codex", "gemini", "demo"}


def test_the_templates_view_shows_why_an_agent_is_missing(page: Page, hub: BrowserTestHub) -> None:
    with hub.api() as api:
        response = api.post("/agent-templates", json={
            "id": "aider", "name": "Aider", "command": ["aider", "--message", "{prompt}", "--yes"],
            "output": "text", "env": {"AIDER_DARK_MODE": "1"}})
        assert response.status_code == 201, response.text
    open_ui(page, hub)
    view = open_templates(page)
    view.locator("[data-action=recheck]").click()  # the reports of the start-up check and this one agree
    expect(view.locator(".templates-status")).to_contain_text("Checked at")
    missing = entry(view, "aider")
    expect(missing).to_have_attribute("data-availability", "missing")
    expect(missing.locator(".avail-detail")).to_contain_text("aider: executable not found on PATH")
    for builtin in ("claude-code", "codex", "gemini"):
        expect(entry(view, builtin)).to_have_attribute("data-availability", "available")
        expect(entry(view, builtin).locator(".avail-detail")).to_contain_text("fake-agent 1.0")
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")
    page.set_viewport_size({"width": 1400, "height": 900})
    shoot(page, "templates", docs_screenshot("screenshot-templates.png"))
    page.set_viewport_size({"width": 800, "height": 600})
    expect(missing).to_be_visible()
    shoot(page, "templates-800x600")
    with hub.api() as api:
        assert api.delete("/agent-templates/aider").status_code == 204


def test_an_unavailable_agent_is_marked_and_a_launch_using_it_asks_first(page: Page, hub: BrowserTestHub) -> None:
    with hub.api() as api:
        response = api.post("/agent-templates", json={
            "id": "ghost", "name": "Ghost", "command": ["no-such-cli-anywhere", "{prompt}"], "output": "text"})
        assert response.status_code == 201, response.text
        assert api.post("/agent-templates/ghost/check").json()["availability"]["available"] is False
    project_id = api_project(hub, "Haunted", [
        {"id": "draft", "title": "Draft", "prompt": "hi"},
        {"id": "build", "title": "Build", "prompt": "go", "agent": "ghost", "depends_on": ["draft"]}])
    open_ui(page, hub, project_id)

    row(page, "build").locator("button").click()
    page.locator("[data-tab=node]").click()
    editor = page.locator("orc-node-editor")
    expect(editor.locator("[name=agent] option[value=ghost]")).to_have_text("Ghost (ghost) — not available")
    expect(editor.locator("[name=agent] option[value=claude-code]")).to_have_text("Claude Code (claude-code)")
    warning = editor.locator(".agent-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("no-such-cli-anywhere: executable not found on PATH")
    editor.locator("[name=agent]").select_option("codex")  # an available one: no warning
    expect(warning).to_be_hidden()
    editor.locator("[name=agent]").select_option("ghost")
    expect(warning).to_be_visible()

    # Launching the DAG asks first; cancelling starts nothing.
    page.click("[data-action=run-all]")
    dialog = page.locator("dialog.launch-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h3")).to_have_text("Launch the whole DAG")
    expect(dialog.locator(".launch-what")).to_have_text("2 nodes will run: Draft, Build")
    alert = dialog.locator(".launch-warning")
    expect(alert).to_contain_text("A node uses an agent that is not available")
    expect(alert.locator("li[data-node-id=build]")).to_contain_text(
        "Build uses ghost: no-such-cli-anywhere: executable not found on PATH")
    shoot(page, "launch-warning")
    dialog.locator("[data-action=cancel-launch]").click()
    expect(dialog).to_be_hidden()
    assert runs(hub, project_id) == []

    # Escape cancels too; "Launch anyway" goes on, and the ghost's execution fails as warned.
    page.click("[data-action=run-all]")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert runs(hub, project_id) == []
    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-all]")
    dialog.get_by_role("button", name="Launch anyway").click()
    expect(dialog).to_be_hidden()
    panel_status(page, "failed")
    expect(page.locator("orc-execution-panel .exec-error")).to_contain_text("no-such-cli-anywhere")
    by_node = {e["node_id"]: e for e in ended_run(page, hub, project_id)["executions"]}
    assert (by_node["draft"]["status"], by_node["build"]["status"]) == ("succeeded", "failed")

    # A launch that does not reach the ghost starts at once.
    with hub.api() as api:
        assert api.post(f"/projects/{project_id}/nodes", json={
            "id": "side", "title": "Side", "prompt": "hi", "agent": "claude-code"}).status_code == 201
    row(page, "side").locator("button").click()
    page.click("[data-action=run-from]")
    panel_status(page, "succeeded")
    expect(dialog).to_be_hidden()
    assert len(runs(hub, project_id)) == 2

    # A template nodes still use cannot be deleted: the hub says which nodes, and it stays listed.
    view = open_templates(page)
    delete = entry(view, "ghost").locator("[data-action=delete-template]")
    delete.click()
    delete.click()
    expect(entry(view, "ghost").locator(".form-error")).to_have_text(
        f"agent template 'ghost' is used by node(s) {project_id}/build")
    expect(entry(view, "ghost")).to_have_attribute("data-availability", "missing")
    assert "ghost" in templates(hub)


def test_a_node_budget_and_a_run_budget_set_in_the_ui_stop_the_agent(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Budgeted", [{"id": "spender", "title": "Spender", "prompt": SPENDER}])
    open_ui(page, hub, project_id)
    row(page, "spender").locator("button").click()
    page.locator("[data-tab=node]").click()
    editor = page.locator("orc-node-editor")
    budget = editor.get_by_role("group", name="Budget", exact=True)

    # A budget the hub refuses: its words, the number stays as typed.
    budget.get_by_label("Budget: Cost (USD)").fill("-1")
    editor.locator("[type=submit]").click()
    expect(editor.locator(".form-error")).to_contain_text("budget.cost_usd")
    expect(budget.get_by_label("Budget: Cost (USD)")).to_have_value("-1")

    budget.get_by_label("Budget: Cost (USD)").fill("0.05")
    budget.get_by_label("Budget: Tokens").fill("100000")
    editor.locator("[type=submit]").click()
    expect(editor.locator(".form-status")).to_have_text("Saved.")
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/nodes/spender").json()["budget"] == {"cost_usd": 0.05, "tokens": 100000}

    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-all]")  # every agent is available: no question asked
    panel_status(page, "failed")
    expect(page.locator("orc-execution-panel .exec-error")).to_have_text(
        "node budget exceeded: cost $0.0800 is over its $0.05 budget; the agent was stopped")

    # No node budget now (cleared in the editor), a run budget in the launch dialog instead.
    page.locator("[data-tab=node]").click()
    budget.get_by_label("Budget: Cost (USD)").fill("")
    budget.get_by_label("Budget: Tokens").fill("")
    editor.locator("[type=submit]").click()
    expect(editor.locator(".form-status")).to_have_text("Saved.")
    with hub.api() as api:
        assert api.get(f"/projects/{project_id}/nodes/spender").json()["budget"] is None
    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-options]")
    dialog = page.locator("dialog.launch-dialog")
    expect(dialog.locator("h3")).to_have_text('Launch "Spender" and what depends on it')
    expect(dialog.locator(".launch-warning")).to_have_count(0)
    run_budget = dialog.get_by_role("group", name="Run budget", exact=True)
    run_budget.get_by_label("Run budget: Cost (USD)").fill("0")
    dialog.get_by_role("button", name="Launch", exact=True).click()
    expect(dialog.locator(".form-error")).to_contain_text("budget.cost_usd")  # the hub's 422; the dialog stays
    expect(run_budget.get_by_label("Run budget: Cost (USD)")).to_have_value("0")
    assert len(runs(hub, project_id)) == 1
    run_budget.get_by_label("Run budget: Cost (USD)").fill("0.05")
    run_budget.get_by_label("Run budget: Wall time (s)").fill("600")
    dialog.get_by_role("button", name="Launch", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("orc-execution-panel .exec-error")).to_have_text(
        "run budget exceeded: cost $0.0800 is over its $0.05 budget; the run's agents were stopped", timeout=30_000)
    panel_status(page, "failed")
    run = ended_run(page, hub, project_id)
    assert run["status"] == "failed" and run["error"].startswith("run budget exceeded")
    assert run["budget"] == {"cost_usd": 0.05, "wall_s": 600}
