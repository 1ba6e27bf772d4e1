"""The browser UI drives the hub's decisions and follow-ups against a real hub with fake agents:
make a gate in the node editor and approve or reject it, read a git checkpoint's diff, continue an
agent's session with a follow-up. Every refused action shows the hub's words and keeps the text typed."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import test_ui
from test_ui import add_node, api_project, open_ui, panel_status, row
from ui_support import REPO, BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

WAITING_FILL = "rgb(237,233,254)"  # style.css --waiting-fill (#ede9fe)
MINUS = "\u2212"  # the diff view's minus sign

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page


def docs_screenshot(name: str) -> Path | None:
    """docs/<name> when ORCHESTRA_UPDATE_SCREENSHOT is set (the README's pictures), else None."""
    return REPO / "docs" / name if os.environ.get("ORCHESTRA_UPDATE_SCREENSHOT") else None


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def add_gate(page: Page, title: str, depends_on: tuple[str, ...] = ()) -> None:
    page.click("[data-action=add-node]")
    form = page.locator("orc-node-editor form")
    expect(form.locator("h3")).to_have_text("New node")
    form.locator("[name=kind]").select_option("gate")
    expect(form.get_by_label("Prompt", exact=True)).to_be_hidden()
    expect(form.get_by_label("Agent template", exact=True)).to_be_hidden()
    form.get_by_label("Title", exact=True).fill(title)
    for upstream in depends_on:
        form.locator(f"input[name=depends_on][value='{upstream}']").check()
    form.locator("[type=submit]").click()
    expect(form.locator("h3")).to_have_text(f"Node {title.lower()}")


def test_make_a_gate_then_approve_it_and_reject_it(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Gated", [{"id": "draft", "title": "Draft", "prompt": "hi"}])
    open_ui(page, hub, project_id)
    add_gate(page, "Review", depends_on=("draft",))
    add_node(page, "Ship", "Ship what was reviewed.", depends_on=("review",))
    with hub.api() as api:
        nodes = {n["id"]: n for n in api.get(f"/projects/{project_id}/nodes").json()["nodes"]}
    assert nodes["review"]["kind"] == "gate" and nodes["review"]["agent"] is None
    assert nodes["ship"]["kind"] == "agent" and nodes["ship"]["depends_on"] == ["review"]

    # A gate looks like one: a hexagon on the canvas, a tag in the node list.
    cy = "document.querySelector('orc-dag-canvas').cy"
    expect(row(page, "review").locator(".kind-gate")).to_have_text("gate")
    page.wait_for_function(f"() => {cy}.$id('review').style('shape') === 'hexagon'")
    assert page.evaluate(f"() => {cy}.$id('ship').style('shape')") == "round-rectangle"

    # Waiting has its own colour, in the legend, on the canvas and in the panel.
    legend = page.locator("orc-dag-view .legend")
    expect(legend.locator(".swatch.status-waiting")).to_have_count(1)
    expect(legend).to_contain_text("waiting")
    row(page, "review").locator("button").click()
    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-all]")
    panel_status(page, "waiting")
    panel = page.locator("orc-execution-panel")
    gate = panel.get_by_role("region", name="Gate decision")
    expect(gate).to_contain_text("Waiting for a decision")
    expect(panel.locator("orc-event-log")).to_contain_text("Waiting for a decision.")
    expect(row(page, "review")).to_have_attribute("data-status", "waiting")
    expect(row(page, "draft")).to_have_attribute("data-status", "succeeded")
    page.wait_for_function(f"() => {cy}.$id('review').data('status') === 'waiting'")
    fill = page.evaluate(f"() => {cy}.$id('review').style('background-color')")
    assert fill.replace(" ", "") == WAITING_FILL
    expect(row(page, "ship")).to_have_attribute("data-status", "queued")

    # A refused decision shows the hub's words and keeps the comment as typed.
    comment = gate.get_by_label("Comment")
    too_long = "x" * 20_001
    comment.fill(too_long)
    gate.get_by_role("button", name="✓ Approve").click()
    expect(gate.locator(".form-error")).to_contain_text("comment")
    expect(page.locator("orc-toast-list .toast.error").last).to_contain_text("Approving gate")
    assert comment.input_value() == too_long
    panel_status(page, "waiting")

    comment.fill("LGTM, ship it")
    expect(gate.locator(".form-error")).to_be_empty()  # typing again clears the old refusal
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")
    shoot(page, "gate-waiting", docs_screenshot("screenshot-gate.png"))
    gate.get_by_role("button", name="✓ Approve").click()
    panel_status(page, "succeeded")
    expect(gate).to_be_hidden()
    result = panel.locator(".result")
    expect(result.locator("summary")).to_have_text("Decision comment")
    expect(result.locator("pre")).to_have_text("LGTM, ship it")
    expect(row(page, "ship")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    records = [json.loads(p.read_text()) for p in hub.records.glob("*.json")]
    assert any(r["prompt"].startswith("Ship what was reviewed.") and "LGTM, ship it" in r["prompt"] for r in records)

    # Again, and this time reject it: what depends on the gate is skipped.
    page.click("[data-action=run-all]")
    panel_status(page, "waiting")
    gate.get_by_label("Comment").fill("not yet")
    gate.get_by_role("button", name="✕ Reject").click()
    panel_status(page, "failed")
    expect(panel.locator(".exec-error")).to_contain_text("rejected: not yet")
    expect(row(page, "ship")).to_have_attribute("data-status", "skipped", timeout=15_000)
    expect(panel.locator(".history summary")).to_have_text("History (2)")


def test_a_git_checkpoint_diff_matches_git(page: Page, hub: BrowserTestHub) -> None:
    with hub.api() as api:
        response = api.post("/projects", json={"name": "Repo", "workspace": "diff-repo"})
        assert response.status_code == 201, response.text
        project = response.json()
        repo = Path(project["workspace"])
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("base\n")
        (repo / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 5001)))
        git(repo, "add", "README.md", "big.txt")
        git(repo, "commit", "-q", "-m", "base")
        response = api.post(f"/projects/{project['id']}/nodes", json={
            "id": "build", "title": "Build", "agent": "claude-code",
            "prompt": "@write=hello.txt:hi,README.md:changed,big.txt:gone"})
        assert response.status_code == 201, response.text
    open_ui(page, hub, project["id"])
    row(page, "build").locator("button").click()
    page.click("[data-action=run-all]")
    panel_status(page, "succeeded")
    with hub.api() as api:
        execution = api.get(f"/executions?project_id={project['id']}&node_id=build").json()["executions"][0]
    base, commit, branch = execution["base_commit"], execution["commit_sha"], execution["branch"]
    assert base and commit and branch

    changes = page.locator("orc-execution-panel .changes")
    expect(changes.locator(".diff-facts")).to_contain_text(branch)
    expect(changes.locator(f".diff-facts code[title='{base}']")).to_have_text(base[:12])
    expect(changes.locator(f".diff-facts code[title='{commit}']")).to_have_text(commit[:12])
    numstat = [line.split("\t") for line in git(repo, "diff", "--numstat", base, commit).splitlines()]
    files = changes.locator(".diff-file")
    expect(files).to_have_count(len(numstat))
    shown = [(files.nth(i).get_attribute("data-path"),
              files.nth(i).locator(".added").text_content(), files.nth(i).locator(".removed").text_content())
             for i in range(len(numstat))]
    assert shown == [(path, f"+{added}", f"{MINUS}{removed}") for added, removed, path in numstat]
    total_added = sum(int(a) for a, _, _ in numstat)
    total_removed = sum(int(r) for _, r, _ in numstat)
    expect(changes.locator(".diff-total")).to_contain_text(
        f"{len(numstat)} files changed, +{total_added} {MINUS}{total_removed}")

    # Collapsed sections draw nothing until opened; the 5,000-line one draws a step at a time.
    assert changes.locator(".dl").count() == 0
    readme = changes.locator(".diff-file[data-path='README.md']")
    readme.locator("summary").click()
    expect(readme.locator(".dl.del")).to_have_text("-base")
    expect(readme.locator(".dl.add")).to_have_text("+changed")
    expect(readme.locator(".dl.hunk")).to_have_count(1)
    big = changes.locator(".diff-file[data-path='big.txt']")
    started = page.evaluate("performance.now()")
    big.locator("summary").click()
    expect(big.locator(".dl").first).to_be_visible()
    took = page.evaluate("performance.now()") - started
    assert big.locator(".dl").count() == 2000
    more = big.get_by_role("button", name="Show 2,000 more lines")
    expect(more).to_contain_text("not shown")
    more.click()
    expect(big.locator(".dl")).to_have_count(4000)
    big.locator("[data-action=diff-more]").click()
    expect(big.locator("[data-action=diff-more]")).to_be_hidden()
    total_lines = len(git(repo, "diff", base, commit, "--", "big.txt").splitlines())
    expect(big.locator(".dl")).to_have_count(total_lines)
    expect(big.locator(".dl.del")).to_have_count(5000)
    assert took < 2_000, f"opening the 5,000-line file took {took:.0f} ms"

    big.locator("summary").click()  # closed again, for the picture
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")
    shoot(page, "diff", docs_screenshot("screenshot-diff.png"))


def test_a_follow_up_continues_the_session(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Chat", [{"id": "chat", "title": "Chat", "prompt": "Write hello.txt"}])
    open_ui(page, hub, project_id)
    row(page, "chat").locator("button").click()
    page.click("[data-action=run-all]")
    panel_status(page, "succeeded")
    panel = page.locator("orc-execution-panel")
    session = panel.locator("[data-role=session]")
    expect(session).not_to_be_empty()
    session_id = session.text_content()
    parent_id = panel.locator(".facts code").first.text_content()
    box = panel.get_by_role("region", name="Follow-up")
    prompt = box.get_by_label("Follow up")

    # Refused (too long): the hub's message, the prompt kept.
    too_long = "y" * 200_001
    prompt.fill(too_long)
    box.get_by_role("button", name="↪ Send follow-up").click()
    expect(box.locator(".form-error")).to_contain_text("prompt")
    expect(page.locator("orc-toast-list .toast.error").last).to_contain_text(f"Following up on {parent_id}")
    assert prompt.input_value() == too_long

    prompt.fill("Now add tests")
    box.get_by_role("button", name="↪ Send follow-up").click()
    lineage = panel.locator("[data-role=parent]")
    expect(lineage).to_contain_text(f"Follow-up of {parent_id}")
    child_id = panel.locator(".facts code").first.text_content()
    assert child_id != parent_id
    panel_status(page, "succeeded")
    expect(session).to_have_text(session_id or "")
    expect(panel.locator(".history summary")).to_have_text("History (2)")
    records = [json.loads(p.read_text()) for p in hub.records.glob("*.json")]
    resumed = [r for r in records if r["prompt"] == "Now add tests"]
    assert len(resumed) == 1 and "--resume" in resumed[0]["argv"]
    assert resumed[0]["argv"][resumed[0]["argv"].index("--resume") + 1] == session_id
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")
    shoot(page, "follow-up", docs_screenshot("screenshot-follow-up.png"))

    # The parent lists its follow-up; each links to the other.
    lineage.get_by_role("button", name=f"Open execution {parent_id}").click()
    expect(panel.locator(".facts code").first).to_have_text(parent_id or "")
    children = panel.locator("[data-role=follow-ups]")
    expect(children).to_contain_text(f"Follow-up: {child_id}")
    children.get_by_role("button", name=f"Open execution {child_id}").click()
    expect(panel.locator(".facts code").first).to_have_text(child_id or "")
