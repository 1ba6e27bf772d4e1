"""Live clocks against a real hub: a running node's duration ticks once a second, in the node list,
the inspector and the history alike (one page clock, so they always agree), and so does the run's;
times are relative with the exact time on hover; a laptop clock an hour off the hub's shows neither
negative nor hour-long durations (the page follows the hub's time from the events' ``ts``)."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
import test_ui
from test_ui import api_project, open_ui, panel_status, row
from ui_support import BrowserTestHub, shoot, skip_reason, sync_playwright

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Page, expect
else:  # pragma: no cover - the whole module is skipped
    from typing import Any as Page

# test_ui.py's fixtures (a hub subprocess per module, the browser, a fresh page per test).
browser, hub, page = test_ui.browser, test_ui.hub, test_ui.page

# The three places a running execution's duration shows, read in one go (one task: one clock reading).
READ = """() => {
    const text = (selector) => document.querySelector(selector)?.textContent ?? null;
    return {
        list: text("orc-node-list li[data-node-id='wait'] .node-duration"),
        panel: text("orc-execution-panel [data-role=duration]"),
        history: text("orc-execution-panel .history-list .live-duration"),
        run: text("orc-dag-view .run-summary .live-duration"),
        at: performance.now(),
    };
}"""
SECONDS = """(selector) => {
    const text = document.querySelector(selector)?.textContent ?? '';
    const m = /^(?:(\\d+) min )?(\\d+) s$/.exec(text);
    return m ? Number(m[1] || 0) * 60 + Number(m[2]) : null;
}"""
LIST = "orc-node-list li[data-node-id='wait'] .node-duration"


def seconds(text: str | None) -> int:
    """ "7 s" / "1 min 05 s" -> seconds; anything else fails the test."""
    match = re.fullmatch(r"(?:(\d+) min )?(\d+) s", text or "")
    assert match, f"not a running duration: {text!r}"
    return int(match[1] or 0) * 60 + int(match[2])


def start_hanging(page: Page, hub: BrowserTestHub, name: str) -> None:
    project_id = api_project(hub, name, [{"id": "wait", "title": "Wait", "prompt": "@hang"}])
    open_ui(page, hub, project_id)
    row(page, "wait").locator("button").click()
    page.click("[data-action=run-all]")
    panel_status(page, "running")
    page.wait_for_function(f"() => ({SECONDS})({LIST!r}) !== null")


def stop(page: Page) -> None:
    page.click("[data-action=cancel-run]")
    panel_status(page, "cancelled", timeout=20_000)


def test_a_running_duration_ticks_alike_in_list_inspector_and_history(page: Page, hub: BrowserTestHub) -> None:
    start_hanging(page, hub, "Ticking")
    first: dict[str, Any] = page.evaluate(READ)
    # Start on a tick: wait for the list to change once, then for two more seconds to show.
    page.wait_for_function(f"(before) => document.querySelector({LIST!r}).textContent !== before", arg=first["list"])
    before: dict[str, Any] = page.evaluate(READ)
    page.wait_for_function(f"(target) => ({SECONDS})({LIST!r}) >= target", arg=seconds(before["list"]) + 2,
                           timeout=10_000)
    after: dict[str, Any] = page.evaluate(READ)

    for reading in (before, after):  # one clock: the three agree to the second
        assert reading["list"] == reading["panel"] == reading["history"], reading
        assert seconds(reading["run"]) >= seconds(reading["list"]), reading  # the run started first
    advanced = seconds(after["list"]) - seconds(before["list"])
    assert seconds(after["run"]) - seconds(before["run"]) in (2, 3), (before, after)
    took = (after["at"] - before["at"]) / 1000
    print(f"duration advanced {advanced} s in {took:.2f} s of page time")
    assert advanced in (2, 3), (before, after)
    assert took >= 1.0, f"two ticks took {took:.2f} s"  # a ticking clock, not a count of renders

    # "Started" is relative, with the exact time on hover; it moves on by itself.
    started = page.locator("orc-execution-panel .facts time")
    expect(started).to_have_text(re.compile(r"^(just now|\d+ s ago)$"))
    assert str(datetime.date.today().year) in (started.get_attribute("title") or "")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", started.get_attribute("datetime") or "")
    shoot(page, "clocks-running")
    stop(page)
    # A finished execution's duration is fixed and precise, the same in the list and the panel (once the
    # list has drawn the end: under load the panel may draw it first).
    expect(page.locator(f"{LIST} [data-clock]")).to_have_count(0)  # no longer ticking
    finished = page.locator(LIST).text_content()
    assert finished == page.locator("orc-execution-panel [data-role=duration]").text_content()
    assert re.fullmatch(r"\d+\.\d s|\d+ ms|\d+ min \d+ s", finished or ""), finished


@pytest.mark.parametrize("skew_s", [3600, -3600], ids=["laptop-an-hour-ahead", "laptop-an-hour-behind"])
def test_a_skewed_laptop_clock_shows_the_hubs_durations(page: Page, hub: BrowserTestHub, skew_s: int) -> None:
    page.add_init_script(f"""(() => {{
        const real = Date.now.bind(Date);
        Date.now = () => real() + {skew_s * 1000};
    }})()""")
    start_hanging(page, hub, f"Skewed {skew_s:+d}")
    reading: dict[str, Any] = page.evaluate(READ)
    assert 0 <= seconds(reading["list"]) < 60, reading
    assert reading["list"] == reading["panel"], reading
    expect(page.locator("orc-execution-panel .facts time")).to_have_text(re.compile(r"^(just now|\d+ s ago)$"))
    # It keeps ticking from there.
    page.wait_for_function(f"(target) => ({SECONDS})({LIST!r}) >= target", arg=seconds(reading["list"]) + 2,
                           timeout=10_000)
    assert seconds(page.locator(LIST).text_content()) < 60
    stop(page)
