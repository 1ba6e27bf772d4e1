"""Browser-test fixtures: the real hub as a subprocess (fake agents, a SQLite file in a temporary
folder) and Debian's Chromium driven by Playwright's sync API (see ui_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_support import CHROMIUM, CHROMIUM_ARGS, HubProcess, shoot, sync_playwright

if sync_playwright is not None:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    process = HubProcess(tmp_path_factory.mktemp("hub"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, hub: HubProcess, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser profile (empty localStorage); fails the test on an uncaught page error."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error}\n{error.stack}"))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "WebSocket" not in msg.text
            and "Failed to load resource" not in msg.text else None)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        shoot(page, f"FAILED-{request.node.name}")
    context.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)

