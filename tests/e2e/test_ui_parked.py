"""A parked execution in the browser: its own glyph in the node list, until when it waits with a countdown,
and "Resume now", which lets the run go on."""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path

import pytest
import test_ui
from test_ui import api_project, open_ui, panel_status, row
from ui_support import TRANSCRIPTS, BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page

FAKE_AGENT = Path(__file__).resolve().parents[1] / "fake_agent.py"


def limited_cli(root: Path, reset_in_s: float) -> Path:
    """A Claude-like CLI that hits its 5-hour limit once (reset ``reset_in_s`` from now), then works."""
    resets_at = int(time.time() + reset_in_s)
    recorded = json.loads((TRANSCRIPTS / "claude-subscription-limit.meta.json").read_text())["limit_resets_at"]
    limited = root / "limited.jsonl"
    limited.write_text((TRANSCRIPTS / "claude-subscription-limit.jsonl").read_text().replace(str(recorded),
                                                                                           str(resets_at)))
    counter = root / "limits-left"
    counter.write_text("1")

    def run(transcript: Path) -> str:
        return shlex.join([sys.executable, str(FAKE_AGENT), "--transcript", str(transcript)])

    script = root / "limited-claude"
    script.write_text("#!/bin/sh\n"
                      f'if [ "$1" = --version ]; then exec {run(TRANSCRIPTS / "claude-tool.jsonl")} -- "$@"; fi\n'
                      f'if [ "$(cat {counter})" -gt 0 ]; then echo 0 > {counter}; exec {run(limited)} -- "$@"; fi\n'
                      f'exec {run(TRANSCRIPTS / "claude-tool.jsonl")} -- "$@"\n')
    script.chmod(0o755)
    return script


def test_a_parked_node_shows_until_when_and_resumes_now(page: Page, hub: BrowserTestHub, tmp_path: Path) -> None:
    script = limited_cli(tmp_path, 3600)
    with hub.api() as api:
        response = api.post("/agent-templates", json={
            "id": "limited-claude", "name": "Claude at its limit", "output": "claude-stream-json",
            "command": [str(script), "-p", "{prompt}", "--output-format", "stream-json", "--verbose"]})
        assert response.status_code == 201, response.text
    project_id = api_project(hub, "Limited", [{"id": "work", "title": "Work", "prompt": "do it",
                                               "agent": "limited-claude"}])
    open_ui(page, hub, project_id)
    row(page, "work").locator("button").click()
    page.locator("[data-tab=execution]").click()
    page.click("[data-action=run-all]")
    panel_status(page, "parked")
    panel = page.locator("orc-execution-panel")
    note = panel.locator("[data-role=parked-note]")
    expect(note).to_contain_text("Parked at a usage limit until")
    countdown = note.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^59 min \d+ s$"))  # an hour from now, less a few seconds
    shown = countdown.text_content()
    expect(countdown).not_to_have_text(shown or "")  # it counts down with the page clock
    expect(note.locator(".parked-reason")).to_contain_text("You've hit your 5-hour limit")  # not a red error
    expect(panel.locator(".exec-error")).to_have_count(0)
    expect(row(page, "work").locator(".status-icon")).to_have_text("☾")
    shoot(page, "parked-1400")

    note.locator("[data-action=resume-execution]").click()
    panel_status(page, "succeeded")
    expect(panel.locator("[data-role=parked-note]")).to_have_count(0)
    expect(row(page, "work").locator(".status-icon")).to_have_text("✓")
