"""The Attention view in the browser: with one project open, a gate, a best-of-N pick and a plan review of
three other projects are listed under the top bar's count and answered in place (the plan edited before
approval); the hub's refusal is shown and changes nothing; a failed run is dismissed (marked seen); a desktop
notification is raised when an item enters the list (the permission granted to the page: the control that
asks for it is covered by the permission text it shows)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import test_ui
from test_ui import api_project, open_ui
from test_ui_runs import wait_run
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page

PLAN = json.dumps({"tasks": [{"id": "a", "title": "A", "prompt": "@write=a.txt:a", "depends_on": []}]},
                  separators=(",", ":"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def waiting_projects(hub: BrowserTestHub) -> dict[str, str]:
    gated = api_project(hub, "Gated", [{"id": "review", "title": "Human review", "kind": "gate", "agent": None},
                                       {"id": "ship", "title": "Ship", "agent": "claude-code", "prompt": "ship",
                                        "depends_on": ["review"]}])
    planned = api_project(hub, "Planned", [{"id": "plan", "title": "Plan", "kind": "plan", "review_plan": True,
                                            "agent": "claude-code", "prompt": f"@result={PLAN}"}])
    with hub.api() as api:
        picked = api.post("/projects", json={"name": "Picked", "workspace": "picked"}).json()
        repo = Path(picked["workspace"])
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("base\n")
        git(repo, "add", "README.md")
        git(repo, "commit", "-q", "-m", "base")
        assert api.post(f"/projects/{picked['id']}/nodes", json={
            "id": "draft", "title": "Draft", "agent": "claude-code", "prompt": "@write=d.txt:d",
            "candidates": 2}).status_code == 201
    return {"gate": gated, "pick": picked["id"], "plan_review": planned}


def test_answer_a_gate_a_pick_and_a_plan_review_from_another_projects_page(page: Page, hub: BrowserTestHub) -> None:
    other = api_project(hub, "Somewhere else", [{"id": "n", "title": "N", "agent": "claude-code", "prompt": "x"}])
    projects = waiting_projects(hub)
    open_ui(page, hub, other)
    opener = page.locator("[data-action=attention]")
    with hub.api() as api:
        for project_id in projects.values():
            assert api.post("/launch", json={"project_id": project_id}).status_code == 202
    expect(opener.locator(".attention-count")).to_have_text("3", timeout=30_000)  # live, from the hub feed
    # No desktop notifications allowed: what entered the list is said in the page.
    expect(page.locator("orc-toast-list")).to_contain_text("Gate: Gated")
    opener.click()
    dialog = page.get_by_role("dialog", name="Waiting for you")
    # The control that asks for the permission, once, in the view.
    expect(dialog.locator("[data-action=enable-notifications]")).to_be_visible()
    items = dialog.locator("li.attention-item")
    expect(items).to_have_count(3)
    shoot(page, "attention-view-1440")

    # The gate: a comment, approve. (Approving it again from the API is refused; the view shows the list.)
    gate = dialog.locator("li[data-kind=gate]")
    expect(gate).to_contain_text("Gated")
    gate_id = gate.get_attribute("data-execution")
    gate.locator("textarea[name=comment]").fill("looks right")
    gate.locator("[data-action=approve]").click()
    expect(items).to_have_count(2, timeout=30_000)
    with hub.api() as api:
        again = api.post(f"/executions/{gate_id}/approve")
        assert again.status_code == 409
        assert api.get(f"/executions/{gate_id}").json()["result_text"] == "looks right"

    # The plan review: edit the task list, approve; the run grows the edited task.
    review = dialog.locator("li[data-kind=plan_review]")
    area = review.locator("textarea[name=plan]")
    expect(area).to_have_value(json.dumps(json.loads(PLAN), indent=2), timeout=30_000)
    edited = json.loads(PLAN)
    edited["tasks"][0]["title"] = "Edited A"
    area.fill(json.dumps(edited))
    review.locator("[data-action=approve]").click()
    expect(items).to_have_count(1, timeout=30_000)

    # The pick: a candidate that succeeded.
    pick = dialog.locator("li[data-kind=pick]")
    pick_button = pick.locator("[data-action=pick]").nth(1)
    expect(pick_button).to_be_visible(timeout=30_000)
    chosen = pick_button.get_attribute("data-candidate")
    pick_button.click()
    expect(items).to_have_count(0, timeout=30_000)
    expect(dialog.get_by_role("status")).to_have_text("Nothing waits for you.")
    expect(opener.locator(".attention-count")).to_have_text("0")

    with hub.api() as api:
        nodes = {n["id"]: n for n in api.get(f"/projects/{projects['plan_review']}/nodes").json()["nodes"]}
        assert nodes["plan.a"]["title"] == "Edited A"
        pick_execution = next(e for e in api.get("/executions", params={"project_id": projects["pick"]}).json()[
            "executions"] if e["agent"] == "gate")
        assert pick_execution["status"] == "succeeded" and chosen in (pick_execution["result_text"] or "")
    assert page.evaluate("document.querySelector('orc-dag-view') !== null")  # still on the other project's page


def test_a_refused_answer_is_shown_a_failed_run_is_dismissed_and_a_desktop_notification_is_raised(
        page: Page, hub: BrowserTestHub) -> None:
    page.context.grant_permissions(["notifications"])
    page.add_init_script("""
        window.__notes = [];
        const Real = window.Notification;
        class Recorded extends Real {
          constructor(title, options) { super(title, options); window.__notes.push({title, body: options?.body}); }
        }
        window.Notification = Recorded;
    """)
    planned = api_project(hub, "Reviewed", [{"id": "plan", "title": "Plan", "kind": "plan", "review_plan": True,
                                             "agent": "claude-code", "prompt": f"@result={PLAN}"}])
    flaky = api_project(hub, "Flaky", [{"id": "boom", "title": "Boom", "agent": "claude-code", "prompt": "@exit=1"}])
    open_ui(page, hub)
    opener = page.locator("[data-action=attention]")
    opener.click()
    dialog = page.get_by_role("dialog", name="Waiting for you")
    expect(dialog.locator(".attention-permission")).to_contain_text("Desktop notifications on")
    with hub.api() as api:
        api.post("/launch", json={"project_id": planned})
        api.post("/launch", json={"project_id": flaky})
    review = dialog.locator("li[data-kind=plan_review]", has_text="Reviewed")
    expect(review).to_have_count(1, timeout=30_000)
    failed = dialog.locator("li[data-kind=failed_run]", has_text="Flaky")
    expect(failed).to_have_count(1, timeout=30_000)
    page.wait_for_function("window.__notes.length >= 2")
    titles = page.evaluate("window.__notes.map(n => n.title)")
    assert "Plan review: Reviewed" in titles and "Failed run: Flaky" in titles

    # A task list the hub refuses: its message is shown, the review still waits, nothing grew.
    review_id = review.get_attribute("data-execution")
    area = review.locator("textarea[name=plan]")
    expect(area).not_to_have_value("", timeout=30_000)
    area.fill(json.dumps({"tasks": [{"id": "a", "title": "A", "prompt": "p", "depends_on": ["nowhere"]}]}))
    review.locator("[data-action=approve]").click()
    expect(review.locator(".form-error")).to_contain_text("nowhere")
    with hub.api() as api:
        assert api.get(f"/executions/{review_id}").json()["status"] == "waiting"
        assert [n["id"] for n in api.get(f"/projects/{planned}/nodes").json()["nodes"]] == ["plan"]
    review.locator("[data-action=reject]").click()
    expect(review).to_have_count(0, timeout=30_000)

    failed.locator("[data-action=dismiss]").click()
    expect(failed).to_have_count(0, timeout=30_000)
    with hub.api() as api:
        runs = api.get("/runs", params={"project_id": flaky}).json()["runs"]
        assert runs[0]["seen_at"] is not None
        assert all(i["run_id"] != runs[0]["id"] for i in api.get("/attention").json()["items"])


def test_a_notifications_link_opens_the_attention_view(page: Page, hub: BrowserTestHub) -> None:
    project = api_project(hub, "Linked", [{"id": "g", "title": "Gate", "kind": "gate", "agent": None}])
    with hub.api() as api:
        run = api.post("/launch", json={"project_id": project}).json()
        gate = run["executions"][0]["id"]
    page.goto(f"{hub.url}/ui/#token={hub.token}&project={project}&run={run['run_id']}&execution={gate}")
    dialog = page.get_by_role("dialog", name="Waiting for you")
    expect(dialog).to_be_visible(timeout=30_000)
    item = dialog.locator(f"li[data-kind=gate][data-execution='{gate}']")
    expect(item).to_have_count(1, timeout=30_000)  # live: the gate may start waiting after the page loads
    item.locator("[data-action=reject]").click()
    expect(item).to_have_count(0, timeout=30_000)


def test_a_parked_node_counts_down_and_is_resumed_now_from_the_attention_view(page: Page, hub: BrowserTestHub,
                                                                                tmp_path: Path) -> None:
    """A user template running the recorded Claude subscription limit once (its reset an hour away), then a
    successful run: parked in the list with its countdown; "Resume now" runs it again and the run succeeds."""
    from fake_agent import install
    from ui_support import TRANSCRIPTS

    recorded = (TRANSCRIPTS / "claude-subscription-limit.jsonl").read_text()
    reset = str(int(time.time()) + 3600)
    limited = tmp_path / "claude-subscription-limit.jsonl"
    limited.write_text(recorded.replace("1796670978", reset))
    for suffix in (".stderr.txt", ".meta.json"):
        (tmp_path / f"claude-subscription-limit{suffix}").write_text(
            (TRANSCRIPTS / f"claude-subscription-limit{suffix}").read_text())
    first = install(tmp_path, "limited-once", limited)
    then = install(tmp_path, "succeeds", TRANSCRIPTS / "claude-tool.jsonl")
    marker = tmp_path / "limited.done"
    wrapper = tmp_path / "limited-cli"
    # --version: the hub's availability check, which must not use up the limited run.
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = --version ] || [ -e {marker} ]; then exec {then} "$@"; fi\n'
                       f'touch {marker}\nexec {first} "$@"\n')
    wrapper.chmod(0o755)
    with hub.api() as api:
        template = {"id": "limited", "name": "Limited", "output": "claude-stream-json",
                    "command": [str(wrapper), "-p", "{prompt}", "--output-format", "stream-json", "--verbose"]}
        assert api.post("/agent-templates", json=template).status_code == 201, "template"
    project = api_project(hub, "At a limit", [{"id": "build", "title": "Build", "agent": "limited", "prompt": "go"}])
    open_ui(page, hub)
    with hub.api() as api:
        run = api.post("/launch", json={"project_id": project}).json()
    page.locator("[data-action=attention]").click()
    dialog = page.get_by_role("dialog", name="Waiting for you")
    parked = dialog.locator("li[data-kind=parked]", has_text="At a limit")
    expect(parked).to_have_count(1, timeout=30_000)
    expect(parked.locator(".countdown")).to_have_text(re.compile(r"resumes in \d+ min \d+ s"))
    parked.locator("[data-action=resume]").click()
    expect(parked).to_have_count(0, timeout=30_000)
    with hub.api() as api:
        assert wait_run(api, run["run_id"])["status"] == "succeeded"
