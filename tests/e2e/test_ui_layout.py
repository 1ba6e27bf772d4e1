"""The browser UI at any window size and with a large DAG, against a real hub with fake agents: the
canvas, the selected execution's log and the primary actions are on screen and not covered at 800x600,
1400x900 and 2560x1440; a 100-node DAG keeps readable labels after Fit, finds and centres a node, has
zoom buttons and a minimap; the keyboard shortcuts work and are listed in the help overlay; a project
with 10,000 stored executions opens (benchmarks/ui_open.py once: what is drawn is checked, the time printed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import test_ui
from test_ui import api_project, canvas, panel_status, row
from ui_support import REPO, BrowserTestHub, shoot, skip_reason, sync_playwright

from benchmarks import ui_open
from orchestra.core.statuses import ExecutionStatus

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

if sync_playwright is not None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - the whole module is skipped
    Browser = Page = Any

# test_ui.py's fixtures: a hub subprocess per module, the browser.
browser, hub = test_ui.browser, test_ui.hub

SIZES = [(800, 600), (1400, 900), (2560, 1440)]
DOCS_SHOTS = {(800, 600): "screenshot-800x600.png", (1400, 900): "screenshot-dag.png",
              (2560, 1440): "screenshot-2560x1440.png"}
NAMES = {800: "Landing page", 1400: "Website", 2560: "Mobile app"}
MIN_LABEL_PX = 10

# What the tests look for on screen, by CSS selector.
CANVAS = "orc-dag-canvas"
LOG = "orc-execution-panel orc-event-log"
PRIMARY = ["[data-action=run-all]", "[data-action=run-from]", "[data-action=zoom-in]", "[data-action=zoom-out]",
           "[data-action=fit]", "orc-dag-view .find input"]


def docs_screenshot(name: str) -> Any:
    """docs/<name> when ORCHESTRA_UPDATE_SCREENSHOT is set (the README's pictures), else None."""
    return REPO / "docs" / name if os.environ.get("ORCHESTRA_UPDATE_SCREENSHOT") else None


@pytest.fixture
def sized_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[int, int], Page]]:
    """Pages of a given window size, each in a fresh profile; an uncaught page error fails the test,
    and a failed test keeps a screenshot of its last page."""
    contexts = []
    errors: list[str] = []

    def make(width: int, height: int) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
                and "WebSocket" not in msg.text and "Failed to load resource" not in msg.text else None)
        return page

    failed_before = request.session.testsfailed
    yield make
    if contexts and request.session.testsfailed > failed_before:
        shoot(contexts[-1].pages[0], f"FAILED-{request.node.name}")
    for context in contexts:
        context.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


def open_project(page: Page, hub: BrowserTestHub, project_id: str) -> None:
    page.goto(f"{hub.url}/ui/#token={hub.token}&project={project_id}")
    expect(page.locator("orc-dag-view")).to_have_attribute("data-state", "loaded")
    expect(page.locator("orc-dag-view .live")).to_have_text("● live")


def layered(count: int = 100, layers: int = 10) -> list[dict[str, Any]]:
    """``count`` nodes in ``layers`` layers; each depends on two nodes of the layer above."""
    width = count // layers
    nodes = []
    for i in range(count):
        layer, column = divmod(i, width)
        depends = sorted({f"t{(layer - 1) * width + (column + k) % width}" for k in (0, 3)}) if layer else []
        nodes.append({"id": f"t{i}", "title": f"Task {i}", "prompt": "hi", "depends_on": depends})
    return nodes


def box(page: Page, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found, f"{selector} is not displayed"
    return found


def assert_on_screen_and_uncovered(page: Page, selector: str) -> None:
    """The element lies inside the window, and what is drawn at its centre is the element itself."""
    width, height = page.viewport_size["width"], page.viewport_size["height"]  # type: ignore[index]
    b = box(page, selector)
    assert b["width"] > 0 and b["height"] > 0, f"{selector} has no size: {b}"
    inside = b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= width + 0.5 and b["y"] + b["height"] <= height + 0.5
    assert inside, f"{selector} is outside the {width}x{height} window: {b}"
    hit = page.evaluate("""([selector, x, y]) => {
        const el = document.querySelector(selector), top = document.elementFromPoint(x, y);
        return el.contains(top) ? null : (top ? top.outerHTML.slice(0, 120) : 'nothing');
    }""", [selector, b["x"] + b["width"] / 2, b["y"] + b["height"] / 2])
    assert hit is None, f"{selector} is covered by {hit}"


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    dx = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    dy = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(dx, 0) * max(dy, 0)


def label_sizes(page: Page) -> list[float]:
    """The on-screen font size of every node label drawn (empty labels are not drawn)."""
    return canvas(page, "cy.nodes().filter(n => n.style('label'))"
                        ".map(n => parseFloat(n.style('font-size')) * cy.zoom())")


# -- tests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_main_view_fits_the_window(sized_page: Callable[[int, int], Page], hub: BrowserTestHub,
                                       width: int, height: int) -> None:
    project_id = api_project(hub, NAMES[width], [
        {"id": "plan", "title": "Plan the website", "prompt": "hi"},
        {"id": "api", "title": "Build the API", "prompt": "hi", "depends_on": ["plan"]},
        {"id": "ui", "title": "Build the user interface", "prompt": "@fail", "depends_on": ["plan"]},
        {"id": "docs", "title": "Write the documentation", "prompt": "hi", "depends_on": ["plan"]},
        {"id": "review", "title": "Review", "kind": "gate", "agent": None, "prompt": "", "depends_on": ["api", "ui"]},
        {"id": "ship", "title": "Ship it", "prompt": "hi", "depends_on": ["review", "docs"]},
    ])
    page = sized_page(width, height)
    open_project(page, hub, project_id)
    page.click("[data-action=run-all]")
    expect(row(page, "ui")).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(row(page, "docs")).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row(page, "ship")).to_have_attribute("data-status", "skipped", timeout=30_000)  # the run is over
    row(page, "api").locator("button").click()
    panel_status(page, "succeeded")
    expect(page.locator(LOG).locator(".ev-text").first).to_be_visible()
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")

    for selector in [CANVAS, LOG, *PRIMARY]:
        assert_on_screen_and_uncovered(page, selector)
    stage = box(page, "orc-dag-view .dag-stage")
    assert stage["width"] >= 0.5 * (width - 480) and stage["height"] >= 0.45 * height, f"the DAG is cramped: {stage}"
    panes = {name: box(page, selector) for name, selector in [
        ("stage", "orc-dag-view .dag-stage"), ("toolbar", "orc-dag-view .toolbar"), ("nodes", "orc-node-list"),
        ("log", LOG), ("inspector tabs", "orc-inspector .tabs")]}
    for i, (a, first) in enumerate(panes.items()):
        for b, second in list(panes.items())[i + 1:]:
            assert overlap(first, second) < 1, f"{a} and {b} overlap: {first} {second}"

    # Left to right, except in a narrow canvas, where top to bottom draws this DAG larger.
    plan, api = (canvas(page, f"cy.$id('{node}').position()") for node in ("plan", "api"))
    assert (plan["y"] < api["y"]) if width < 1000 else (plan["x"] < api["x"]), (plan, api)
    sizes = label_sizes(page)
    assert sizes and min(sizes) >= MIN_LABEL_PX, sizes
    shoot(page, f"layout-{width}x{height}", docs_screenshot(DOCS_SHOTS[(width, height)]))

    # The toolbar is one row; what does not fit is in "More", still usable.
    toolbar = box(page, "orc-dag-view .toolbar")
    assert toolbar["height"] < 48, f"the toolbar wraps: {toolbar}"
    tops = page.evaluate("[...document.querySelectorAll('orc-dag-view .toolbar-row > button')].map(e => e.offsetTop)")
    assert len(set(tops)) == 1, tops
    more = page.locator("orc-dag-view [data-action=more]")
    if more.is_visible():
        more.click()
        menu = page.locator("orc-dag-view .overflow-menu")
        expect(menu).to_be_visible()
        assert menu.locator("button").count() >= 1
        page.keyboard.press("Escape")
        expect(menu).to_be_hidden()

    # Every node's status is readable in full, by glyph and word, in the list and on the canvas.
    clipped = page.evaluate("""() => [...document.querySelectorAll('orc-node-list .status-text')]
        .filter(e => e.scrollWidth > e.clientWidth + 1 || e.offsetWidth === 0).map(e => e.textContent)""")
    assert clipped == [], f"clipped statuses: {clipped}"
    expect(row(page, "ui").locator(".status-text")).to_have_text("✕failed")
    assert canvas(page, "cy.$id('api').data('label')").endswith("✓ succeeded")
    assert canvas(page, "cy.$id('ui').style('border-style')") == "double"
    assert canvas(page, "cy.$id('review').style('border-style')") == "dashed"  # skipped
    glyphs = page.locator("orc-dag-view .legend-icon").all_text_contents()
    assert len(glyphs) == len(ExecutionStatus) + 1 and len(set(glyphs)) == len(glyphs), glyphs  # and "not run yet"

    # Where the projects pane does not fit, it is a drawer: the toggle opens it, Escape closes it.
    toggle = page.locator("[data-action=toggle-projects]")
    projects = page.locator("orc-project-list")
    if width < 1200:
        expect(projects).to_be_hidden()
        toggle.click()
        expect(projects).to_be_visible()
        expect(projects.locator(f"li[data-project-id='{project_id}']")).to_be_visible()
        page.keyboard.press("Escape")
        expect(projects).to_be_hidden()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        page.locator("body").press("p")
        expect(projects).to_be_visible()
        page.locator("body").press("p")
        expect(projects).to_be_hidden()
    else:
        expect(toggle).to_be_hidden()
        assert overlap(box(page, "orc-project-list"), stage) < 1


def test_a_hundred_node_dag_stays_readable(sized_page: Callable[[int, int], Page], hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Hundred", layered())
    page = sized_page(1400, 900)
    open_project(page, hub, project_id)
    page.wait_for_function("() => document.querySelector('orc-dag-canvas').cy.nodes().length === 100")
    page.click("[data-action=fit]")

    # After Fit: the whole graph inside the canvas and centred in it; labels readable or not drawn.
    view = canvas(page, """(() => { const bb = cy.nodes().renderedBoundingBox();
        return {x1: bb.x1, x2: bb.x2, y1: bb.y1, y2: bb.y2, w: cy.width(), h: cy.height()}; })()""")
    assert view["x1"] >= 0 and view["y1"] >= 0 and view["x2"] <= view["w"] and view["y2"] <= view["h"], view
    assert abs((view["x1"] + view["x2"]) / 2 - view["w"] / 2) < 3, view
    # Vertically centred in the room above the overlays floating at the bottom (legend, zoom, minimap).
    room = view["h"] - page.evaluate("h => document.querySelector('orc-dag-canvas').overlayBand(h)", view["h"])
    assert abs((view["y1"] + view["y2"]) / 2 - max(room, view["h"] / 3) / 2) < 3, view
    sizes = label_sizes(page)
    assert not sizes or min(sizes) >= MIN_LABEL_PX, f"labels below {MIN_LABEL_PX} px: {min(sizes)}"
    fitted = canvas(page, "cy.zoom()")
    assert page.locator("orc-dag-minimap").is_hidden()  # everything is in view

    # Zoom by the buttons and the keys; labels keep their size on screen; f fits again.
    page.click("[data-action=zoom-in]")
    assert canvas(page, "cy.zoom()") == pytest.approx(fitted * 1.25)
    page.locator("body").press("+")
    assert canvas(page, "cy.zoom()") == pytest.approx(fitted * 1.25 ** 2)
    sizes = label_sizes(page)
    assert sizes and min(sizes) >= MIN_LABEL_PX, sizes
    page.locator("body").press("-")
    assert canvas(page, "cy.zoom()") == pytest.approx(fitted * 1.25)
    page.locator("body").press("f")
    assert canvas(page, "cy.zoom()") == pytest.approx(fitted)

    # Find a node: it is selected, centred and drawn with its full label; the minimap shows the rest.
    find = page.locator("orc-dag-view .find input")
    page.locator("body").press("/")
    expect(find).to_be_focused()
    find.fill("task 57")
    find.press("Enter")
    expect(row(page, "t57")).to_have_class("node-row selected")
    expect(row(page, "t57")).to_be_in_viewport()  # the node list scrolled to it
    centre = canvas(page, "(() => { const p = cy.$id('t57').renderedPosition();"
                          " return [p.x - cy.width() / 2, p.y - cy.height() / 2]; })()")
    assert abs(centre[0]) < 2 and abs(centre[1]) < 2, f"t57 is {centre} px off the centre"
    assert canvas(page, "cy.$id('t57').style('label')") == "Task 57\n○ not run yet"
    assert min(label_sizes(page)) >= MIN_LABEL_PX
    minimap = page.locator("orc-dag-minimap")
    expect(minimap).to_be_visible()
    page.evaluate("() => document.querySelector('orc-toast-list').replaceChildren()")
    shoot(page, "hundred-nodes", docs_screenshot("screenshot-100-nodes.png"))

    # A click in the minimap's top-left corner moves the view to the graph's first layer.
    before = canvas(page, "cy.pan()")
    mini = box(page, "orc-dag-minimap canvas")
    page.mouse.click(mini["x"] + 8, mini["y"] + mini["height"] / 2)
    after = canvas(page, "cy.pan()")
    assert after["x"] > before["x"], (before, after)
    assert canvas(page, "cy.$id('t0').renderedPosition().x") > 0

    # A name that matches nothing is marked, and nothing moves.
    find.fill("no such node")
    find.press("Enter")
    expect(find).to_have_attribute("aria-invalid", "true")
    assert canvas(page, "cy.pan()") == after


def test_keyboard_shortcuts_and_the_help_overlay(sized_page: Callable[[int, int], Page], hub: BrowserTestHub) -> None:
    project_id = api_project(hub, "Keys", [{"id": "one", "title": "One", "prompt": "hi"},
                                           {"id": "two", "title": "Two", "prompt": "@hang", "depends_on": ["one"]}])
    page = sized_page(1400, 900)
    open_project(page, hub, project_id)
    body = page.locator("body")

    body.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    for key, text in (("Shift+R", "Run all"), ("Shift+X", "Cancel the current run"), ("f", "Fit"), ("Esc", "Close")):
        expect(help_dialog.locator("tr", has=page.locator("kbd", has_text=key)).first).to_contain_text(text)
    shoot(page, "help-overlay")
    body.press("Shift+R")  # a modal dialog has the keys: nothing is launched
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    expect(row(page, "one")).to_have_attribute("data-status", "none")
    page.click("[data-action=help]")
    expect(help_dialog).to_be_visible()
    help_dialog.get_by_role("button", name="Close").click()
    expect(help_dialog).to_be_hidden()

    # In the node list the arrows move the selection, and the focus stays on the selected row.
    row(page, "one").locator("button").focus()
    page.keyboard.press("ArrowDown")
    expect(row(page, "two")).to_have_class("node-row selected")
    expect(row(page, "two").locator("button")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(row(page, "one")).to_have_class("node-row selected")
    expect(row(page, "one").locator("button")).to_be_focused()

    # A key typed into a field stays in the field.
    find = page.locator("orc-dag-view .find input")
    zoom = canvas(page, "cy.zoom()")
    find.click()
    find.press_sequentially("f+n")
    expect(find).to_have_value("f+n")
    assert canvas(page, "cy.zoom()") == zoom
    expect(page.locator("orc-node-editor form")).to_have_count(0)
    find.press("Escape")
    expect(find).to_have_value("")

    # Run, cancel, new node.
    body.press("Shift+R")
    expect(row(page, "two")).to_have_attribute("data-status", "running", timeout=30_000)
    body.press("Shift+X")
    expect(row(page, "two")).to_have_attribute("data-status", "cancelled", timeout=20_000)
    body.press("n")
    expect(page.locator("orc-node-editor form h3")).to_have_text("New node")

    # Escape closes the hub panel, and ends connect mode.
    page.click(".hub-chip")
    expect(page.locator(".hub-panel")).to_be_visible()
    body.press("Escape")
    expect(page.locator(".hub-panel")).to_be_hidden()
    page.click("[data-action=connect]")
    expect(page.locator("orc-dag-view .hint")).to_be_visible()
    body.press("Escape")
    expect(page.locator("orc-dag-view .hint")).to_be_hidden()
    expect(page.locator("[data-action=connect]")).to_have_attribute("aria-pressed", "false")


def test_a_project_with_ten_thousand_executions_opens(browser: Browser) -> None:
    """benchmarks/ui_open.py once: what is drawn is checked; the times are printed, not asserted
    (docs/PERFORMANCE.md reports them)."""
    result = ui_open.measure(browser, repeats=1)
    assert result["drawn_nodes"] == 100
    assert result["history_rows"] == 50  # the first page of the node's 100 executions
    print(f"open a 100-node project with 10,000 executions: cold {result['cold_ms']['median']} ms, "
          f"from another project {result['switch_ms']['median']} ms, "
          f"select a node {result['select_ms']['median']} ms")
