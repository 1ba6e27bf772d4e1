"""Agent output as a person reads it, against a real hub: markdown with a highlighted code block, a
plain-text agent's ANSI colours, a tool call and a 2,000-line tool result folded behind "show more",
a time on every entry, search, copy and download of the whole log, and agent text that tries to run
a script (it does not: the sanitiser removes it, and the page's flag stays unset)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import test_ui
from test_ui import api_project, open_ui, panel_status, row
from ui_support import REPO, BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page

ESC = "\x1b"
RESULT_LINES = 2000
MARKDOWN = (
    "## Plan\n\nI'll **fix** the bug in `calc.py`:\n\n"
    "```python\ndef add(a, b):\n    return a + b\n```\n\n"
    "- check the tests\n- ship it\n"
)
HOSTILE = (
    'Look: <img src="x" onerror="window.__xss = 1"> and <script>window.__xss = 2</script> '
    "and [a link](javascript:window.__xss=3) and <b onclick=\"window.__xss = 4\">bold</b>"
)
TERMINAL_LINES = [
    f"{ESC}[31mred alert{ESC}[0m then plain",
    f"{ESC}[1;32mbold green{ESC}[0m {ESC}[38;5;208morange{ESC}[0m",
    "# not a heading: a plain-text agent's line",
    f"{ESC}[2K{ESC}[1G{ESC}]0;a window title\x07progress {ESC}[38;2;10;120;200m50%{ESC}[0m",
]


def claude_lines(hostile: bool = True) -> list[dict[str, Any]]:
    """A Claude stream-json session: markdown, hostile text, a tool call and a 2,000-line result."""
    def say(text: str) -> dict[str, Any]:
        return {"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}}

    return [
        {"type": "system", "subtype": "init", "session_id": "show-1", "model": "fake-writer"},
        say(MARKDOWN),
        *([say(HOSTILE)] if hostile else []),
        {"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "tool_use", "id": "tu1", "name": "Bash",
             "input": {"command": f"seq -f 'row %g' {RESULT_LINES}"}}]}},
        {"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "tu1",
             "content": "\n".join(f"{ESC}[32mok{ESC}[0m row {i}" for i in range(1, RESULT_LINES + 1))}]}},
        say("All **2,000** rows are there."),
        {"type": "result", "subtype": "success", "is_error": False, "result": "done",
         "total_cost_usd": 0.001, "usage": {"input_tokens": 10, "output_tokens": 20}},
    ]


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def agents(hub: BrowserTestHub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """User templates: 'writer' (Claude's format, the session above), 'showcase' (the same without the
    hostile text) and 'term' (plain text with ANSI colours). Their scripts print a file."""
    root = tmp_path_factory.mktemp("agents")
    templates = []
    for name, lines in (("writer", claude_lines()), ("showcase", claude_lines(hostile=False))):
        transcript = root / f"{name}.jsonl"
        transcript.write_text("".join(json.dumps(line) + "\n" for line in lines))
        templates.append((name, script(root / name, f"cat '{transcript}'\n"), "claude-stream-json"))
    terminal = root / "term.txt"
    terminal.write_text("".join(line + "\n" for line in TERMINAL_LINES))
    templates.append(("term", script(root / "term", f"cat '{terminal}'\n"), "text"))
    with hub.api() as api:
        for template_id, command, output in templates:
            response = api.post("/agent-templates", json={"id": template_id, "name": template_id.title(),
                                                          "command": [str(command), "{prompt}"], "output": output})
            assert response.status_code == 201, response.text
    return {name: name for name, _, _ in templates}


def run_and_open(page: Page, hub: BrowserTestHub, name: str, agent: str) -> Any:
    """A one-node project with `agent`, opened and selected before it runs (its output streams in)."""
    project_id = api_project(hub, name, [{"id": "only", "title": "Only", "prompt": "go", "agent": agent}])
    open_ui(page, hub, project_id)
    page.evaluate("() => { window.__xss = undefined; }")
    row(page, "only").locator("button").click()
    page.click("[data-action=run-all]")
    panel_status(page, "succeeded")
    return page.locator("orc-execution-panel orc-event-log")


def test_markdown_code_tool_calls_and_a_folded_result(page: Page, hub: BrowserTestHub, agents: dict[str, str]) -> None:
    log = run_and_open(page, hub, "Writer", agents["writer"])

    # Markdown, sanitised, with the code block highlighted.
    text = log.locator(".ev-text.md").first
    expect(text.locator("h2")).to_have_text("Plan")
    expect(text.locator("strong")).to_have_text("fix")
    expect(text.locator(":not(pre) > code")).to_have_text("calc.py")
    expect(text.locator("li")).to_have_text(["check the tests", "ship it"])
    code = text.locator("pre.code-block code.language-python")
    expect(code).to_have_text("def add(a, b):\n    return a + b")
    expect(code.locator(".hljs-keyword").first).to_have_text("def")
    expect(text.locator(".code-lang")).to_have_text("python")

    # The tool call: its name and arguments, collapsed until opened.
    tool = log.locator(".ev-tool-use")
    expect(tool.locator("summary")).to_contain_text("Tool call: Bash")
    expect(tool.locator("summary")).to_contain_text("seq -f")
    assert tool.get_attribute("open") is None
    tool.locator("summary").click()
    expect(tool.locator("pre.tool-args")).to_contain_text('"command": "seq -f \'row %g\' 2000"')

    # The 2,000-line result: the first lines shown, the rest behind "show more".
    result = log.locator(".ev-tool-result")
    expect(result.locator("summary")).to_contain_text("Result (ok)")
    expect(result.locator("summary")).to_contain_text("2,000 lines")
    lines = result.locator("pre.result-lines")
    expect(lines).to_have_text("\n".join(f"ok row {i}" for i in range(1, 9)))
    expect(lines.locator(".ansi-fg-green").first).to_have_text("ok")
    more = result.locator("[data-action=show-more]")
    expect(more).to_have_text("Show 1,992 more lines")
    shoot(page, "agent-output-folded")
    more.click()
    expect(more).to_be_hidden()
    assert lines.inner_text().split("\n") == [f"ok row {i}" for i in range(1, RESULT_LINES + 1)]

    # Every entry carries its time: in the tooltip, and in a corner label on hover.
    entries = log.locator(".ev")
    times = entries.evaluate_all("els => els.map(e => [e.dataset.time, e.title])")
    assert len(times) == 8
    for short, title in times:
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", short), short
        assert short in title and "event" in title
    text.hover()
    shown = text.evaluate("el => getComputedStyle(el, '::after').content")
    assert re.fullmatch(r'"\d\d:\d\d:\d\d\.\d{3}"', shown), shown


def test_agent_text_cannot_run_a_script(page: Page, hub: BrowserTestHub, agents: dict[str, str]) -> None:
    log = run_and_open(page, hub, "Hostile", agents["writer"])
    hostile = log.locator(".ev-text.md").nth(1)
    # HTML in agent text is shown as the text it is, never parsed; the link lost its javascript: URL.
    expect(hostile).to_contain_text('Look: <img src="x" onerror="window.__xss = 1"> and ')
    expect(hostile).to_contain_text("<script>window.__xss = 2</script>")
    expect(hostile).to_contain_text('<b onclick="window.__xss = 4">bold</b>')
    assert log.locator("img, script, b, [onerror], [onclick]").count() == 0
    href = hostile.locator("a").get_attribute("href")
    assert href is None or not href.lower().startswith("javascript"), href
    hostile.locator("a").click()
    assert page.evaluate("() => window.__xss") is None, "agent text ran a script"


def test_a_plain_text_agents_ansi_colours(page: Page, hub: BrowserTestHub, agents: dict[str, str]) -> None:
    log = run_and_open(page, hub, "Terminal", agents["term"])
    lines = log.locator(".ev-text.ev-line")
    expect(lines).to_have_text(["red alert then plain", "bold green orange",
                                "# not a heading: a plain-text agent's line", "progress 50%"])
    red = lines.nth(0).locator(".ansi-fg-red")
    expect(red).to_have_text("red alert")
    assert red.evaluate("el => getComputedStyle(el).color") == "rgb(248, 113, 113)"
    expect(lines.nth(1).locator(".ansi-bold.ansi-fg-green")).to_have_text("bold green")
    orange = lines.nth(1).locator("span", has_text="orange")
    assert orange.evaluate("el => el.style.color") == "rgb(255, 135, 0)"  # xterm colour 208
    expect(log.locator("h1")).to_have_count(0)  # a plain-text agent's lines are not markdown
    # Cursor moves and a window title are dropped; a 24-bit colour is kept.
    assert lines.nth(3).locator("span").evaluate("el => el.style.color") == "rgb(10, 120, 200)"
    assert ESC not in log.inner_text()


def test_search_copy_and_download_the_whole_log(page: Page, hub: BrowserTestHub, agents: dict[str, str]) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log = run_and_open(page, hub, "Searched", agents["writer"])
    expect(log.locator(".ev")).to_have_count(8)
    search = page.get_by_role("searchbox", name="Search the agent output")

    # A match deep inside the folded result: only that entry, unfolded down to it, the words marked.
    search.fill("row 1999")
    expect(log.locator(".ev")).to_have_count(1)
    expect(log).to_have_attribute("data-matches", "1")
    expect(log.locator(".ev-tool-result mark")).to_have_text("row 1999")
    expect(log.locator(".log-status")).to_have_text("1 entry matches.")
    search.fill("THE BUG IN")
    expect(log.locator(".ev")).to_have_count(1)
    expect(log.locator(".ev-text.md mark")).to_have_text("the bug in")
    search.fill("no such words")
    expect(log.locator(".ev")).to_have_count(0)
    expect(log.locator(".log-status")).to_have_text("Nothing matches “no such words”.")
    search.fill("")
    expect(log.locator(".ev")).to_have_count(8)
    expect(log.locator("mark")).to_have_count(0)

    # Copy and download carry the whole log as text, one timed entry per event.
    page.click("[data-action=copy-log]")
    expect(page.locator("orc-toast-list .toast").last).to_contain_text("Copied 8 log entries.")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    with page.expect_download() as download:
        page.click("[data-action=download-log]")
    assert download.value.suggested_filename.startswith("execution-")
    saved = Path(download.value.path()).read_text()
    assert saved == copied
    entries = saved.rstrip("\n").split("\n")
    first = r"\[\d\d:\d\d:\d\d\.\d{3}\] system: Session started · model fake-writer · session show-1"
    assert re.fullmatch(first, entries[0]), entries[0]
    assert "## Plan" in saved and "tool call: Bash" in saved and "row 2000" in saved
    assert entries[-1].endswith("system: Agent finished: done")
    assert ESC not in saved


def test_screenshot_of_an_execution(page: Page, hub: BrowserTestHub, agents: dict[str, str]) -> None:
    """The README's picture: markdown, a highlighted code block, a folded result with colours."""
    page.set_viewport_size({"width": 1400, "height": 900})
    log = run_and_open(page, hub, "Agent output", agents["showcase"])
    expect(log.locator(".ev-tool-result [data-action=show-more]")).to_be_visible()
    page.locator("orc-execution-panel .history").evaluate("el => { el.open = false; }")
    log.locator(".ev-tool-use summary").click()
    log.locator(".ev-text.md").first.scroll_into_view_if_needed()
    expect(page.locator("orc-project-list li.selected")).to_contain_text("last run succeeded", timeout=15_000)
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")
    page.mouse.move(0, 0)
    docs_copy = REPO / "docs" / "screenshot-agent-output.png" if os.environ.get("ORCHESTRA_UPDATE_SCREENSHOT") else None
    shoot(page, "agent-output", docs_copy)


def test_rendering_cost_per_entry(page: Page, hub: BrowserTestHub) -> None:
    """Measured, not asserted: what one entry costs to draw (plain text, markdown with a code block,
    a 2,000-line tool result), which bounds the work per animation frame of a streaming log."""
    open_ui(page, hub)
    costs: dict[str, float] = page.evaluate("""async () => {
        const { renderEvent } = await import('./render-event.js');
        const code = '## Step\\n\\nSome **bold** text and `code`:\\n\\n'
            + '```python\\ndef f(x):\\n    return x * 2\\n```\\n';
        const rows = Array.from({ length: 2000 }, (_, i) => `row ${i}`).join('\\n');
        const kinds = {
            plain: (i) => ({ kind: 'text', text: `line ${i}` }),
            markdown: (i) => ({ kind: 'text', text: code + i }),
            tool_result_2000_lines: () => ({ kind: 'tool_result', output: rows }),
        };
        const out = {};
        for (const [name, make] of Object.entries(kinds)) {
            const n = name === 'plain' ? 2000 : 200;
            const events = Array.from({ length: n }, (_, i) => ({ seq: i, ts: 1.7e9 + i, output: make(i) }));
            const fragment = document.createDocumentFragment();
            const start = performance.now();
            for (const event of events) fragment.append(renderEvent(event));
            out[name] = (performance.now() - start) * 1000 / n;
        }
        return out;
    }""")
    print("render cost per entry (µs): " + ", ".join(f"{name} {value:.0f}" for name, value in costs.items()))
    assert set(costs) == {"plain", "markdown", "tool_result_2000_lines"}


def test_a_search_keeps_filtering_what_streams_in(page: Page, hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Streaming search", [
        {"id": "talk", "title": "Talk", "prompt": "@lines=60 @delay=0.03"}])
    open_ui(page, hub, project_id)
    row(page, "talk").locator("button").click()
    page.click("[data-action=run-all]")
    panel_status(page, "running")
    log = page.locator("orc-execution-panel orc-event-log")
    page.get_by_role("searchbox", name="Search the agent output").fill("LINE 4")
    panel_status(page, "succeeded")
    # "line 4" and "line 40".."line 49": matched whether they came before or after the search began.
    expect(log).to_have_attribute("data-matches", "11")
    expect(log.locator(".ev mark")).to_have_count(11)
    expect(log.locator(".log-status")).to_have_text("11 entries match.")


def test_search_reads_the_whole_log_of_a_long_execution(page: Page, hub: BrowserTestHub) -> None:
    """Opened after it ended, a 2,500-line execution shows its newest entries; a search covers all."""
    project_id = api_project(hub, "Long log", [{"id": "long", "title": "Long", "prompt": "@lines=2500"}])
    with hub.api() as api:
        run_id = api.post("/launch", json={"project_id": project_id}).json()["run_id"]
        deadline = time.monotonic() + 60
        while api.get(f"/runs/{run_id}").json()["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the hub's answer: the run is over before the page opens
    open_ui(page, hub, project_id)
    row(page, "long").locator("button").click()
    panel_status(page, "succeeded")
    log = page.locator("orc-execution-panel orc-event-log")
    expect(log.locator(".log-notice")).to_contain_text("earlier entries are not shown")
    # "line 7", "line 70".."line 79", "line 700".."line 799": 111 lines, the first ones not loaded yet.
    page.get_by_role("searchbox", name="Search the agent output").fill("line 7")
    expect(log).to_have_attribute("data-matches", "111")
    expect(log.locator(".ev")).to_have_count(111)
    expect(log.locator(".ev-text").first).to_have_text("line 7")
