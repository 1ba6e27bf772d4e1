"""Accessibility of the browser UI's main views, checked by axe-core (vendored in tests/e2e/vendor/,
see VERSIONS there) against a real hub with fake agents: no serious or critical violation with no
project open, with a project's DAG and an execution's log, the node settings, a gate waiting for a
decision, the keyboard-shortcuts dialog, the agent templates, and at 800x600 with the projects drawer
and the "More" menu open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import test_ui
import test_ui_layout
from test_ui import api_project, panel_status, row
from test_ui_layout import open_project
from ui_support import BrowserTestHub, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    Page = Any

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SERIOUS = {"serious", "critical"}

# The shared fixtures: a hub subprocess per module, the browser, pages of a given size.
browser, hub, sized_page = test_ui.browser, test_ui.hub, test_ui_layout.sized_page


def serious_violations(page: Page, view: str) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the hub's Content-Security-Policy forbids a script tag.
        page.evaluate(f"() => {{ {AXE.read_text()}\n }}")
    found = page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ['violations'] });
        return result.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }));
    }""")
    return [f"{view}: {v['id']} ({v['impact']}) {v['help']}: {v['targets']}" for v in found if v["impact"] in SERIOUS]


def test_the_main_views_have_no_serious_accessibility_violation(sized_page: Callable[[int, int], Page],
                                                                 hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Accessible", [
        {"id": "draft", "title": "Draft", "prompt": "hi"},
        {"id": "review", "title": "Review", "kind": "gate", "agent": None, "prompt": "", "depends_on": ["draft"]},
    ])
    found: list[str] = []
    page = sized_page(1400, 900)
    page.goto(f"{hub.url}/ui/#token={hub.token}")
    expect(page.locator(".hub-chip")).to_have_attribute("data-state", "online")
    expect(page.locator(f"orc-project-list li[data-project-id='{project_id}']")).to_be_visible()
    found += serious_violations(page, "no project open")

    page.locator(f"orc-project-list li[data-project-id='{project_id}'] .project-open").click()
    expect(page.locator("orc-dag-view")).to_have_attribute("data-state", "loaded")
    page.click("[data-action=run-all]")
    expect(row(page, "review")).to_have_attribute("data-status", "waiting", timeout=30_000)
    row(page, "draft").locator("button").click()
    panel_status(page, "succeeded")
    page.locator("orc-event-log .ev-tool-use summary").click()
    found += serious_violations(page, "an execution's log")

    row(page, "review").locator("button").click()
    panel_status(page, "waiting")
    found += serious_violations(page, "a waiting gate")

    page.locator("[data-tab=node]").click()
    expect(page.locator("orc-node-editor form")).to_be_visible()
    found += serious_violations(page, "node settings")

    page.click("[data-action=help]")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    found += serious_violations(page, "keyboard shortcuts")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    page.click("[data-action=templates]")
    templates = page.get_by_role("dialog", name="Agent templates")
    expect(templates.locator(".template").first).to_be_visible()
    found += serious_violations(page, "agent templates")

    narrow = sized_page(800, 600)
    open_project(narrow, hub, project_id)
    narrow.click("[data-action=more]")
    expect(narrow.locator("orc-dag-view .overflow-menu")).to_be_visible()
    found += serious_violations(narrow, "800x600 with the More menu")
    narrow.keyboard.press("Escape")
    narrow.click("[data-action=toggle-projects]")
    expect(narrow.locator("orc-project-list")).to_be_visible()
    found += serious_violations(narrow, "800x600 with the projects drawer")

    assert not found, "axe-core found:\n" + "\n".join(found)
