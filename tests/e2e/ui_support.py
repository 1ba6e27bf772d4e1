"""What the browser tests share: the hub as a subprocess (benchmarks/hub_subprocess.py's blocking
front end, with the fake agents), where Chromium is, screenshots.

Chromium is found only at /usr/bin/chromium (``apt-get install chromium``; Playwright's own browser
download is never used). Without it, or without the ``playwright`` package, the tests are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fake_agent import install

from benchmarks.hub_subprocess import BlockingHub, free_port, hub_env

REPO = Path(__file__).resolve().parents[2]
TRANSCRIPTS = REPO / "tests" / "fixtures" / "agent-transcripts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
TOKEN = "e2e-token-0123456789abcdef"

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # the tests' skip marker says why
    sync_playwright = None
    Page = Any


# A user agent template's CLI: thinks (a collapsed block in the UI), then answers, in Claude's format.
THINKER_LINES = [
    {"type": "system", "subtype": "init", "session_id": "think-1", "model": "fake-thinker"},
    {"type": "assistant", "message": {"role": "assistant",
                                      "content": [{"type": "thinking", "thinking": "Weigh the options."}]}},
    {"type": "assistant", "message": {"role": "assistant",
                                      "content": [{"type": "text", "text": "Thought it through."}]}},
    {"type": "result", "subtype": "success", "is_error": False, "result": "Thought it through.",
     "total_cost_usd": 0.002, "usage": {"input_tokens": 7, "output_tokens": 5}},
]
THINKER = "#!/bin/sh\ncat <<'EOF'\n" + "".join(json.dumps(line) + "\n" for line in THINKER_LINES) + "EOF\n"


def skip_reason() -> str | None:
    if sync_playwright is None:
        return "the 'playwright' package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


class BrowserTestHub(BlockingHub):
    """The hub the browser tests drive: ``python orchestra.py`` with the fake agent CLIs, on a fixed port
    and database, which a test can stop and start again."""

    def __init__(self, root: Path) -> None:
        self.records = root / "records"
        bin_dir = root / "bin"
        bin_dir.mkdir(parents=True)
        self.records.mkdir()
        for name, transcript in (("claude", "claude-tool.jsonl"), ("codex", "codex-tool.jsonl"),
                                 ("gemini", "gemini-tool.jsonl")):
            install(bin_dir, name, TRANSCRIPTS / transcript, self.records)
        self.thinker = bin_dir / "thinker"
        self.thinker.write_text(THINKER)
        self.thinker.chmod(0o755)
        env = hub_env(root, TOKEN, port=free_port(), ORCHESTRA_MAX_PARALLEL="4",
                      ORCHESTRA_CLAUDE_BIN=str(bin_dir / "claude"), ORCHESTRA_CODEX_BIN=str(bin_dir / "codex"),
                      ORCHESTRA_GEMINI_BIN=str(bin_dir / "gemini"))
        super().__init__(env, cwd=root, log_path=root / "hub.log")

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20)

    def agent_pids(self) -> list[int]:
        """Pids of every fake agent the hub has started so far."""
        return [json.loads(p.read_text())["pid"] for p in self.records.glob("*.json")]


def shoot(page: Page, name: str, path: Path | None = None) -> Path:
    target = path or SCREENSHOTS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    return target
