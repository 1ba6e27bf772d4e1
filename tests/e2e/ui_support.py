"""What the browser tests share: the hub as a subprocess, where Chromium is, screenshots.

Chromium is found only at /usr/bin/chromium (``apt-get install chromium``; Playwright's own browser
download is never used). Without it, or without the ``playwright`` package, the tests are skipped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from fake_agent import install

REPO = Path(__file__).resolve().parents[2]
TRANSCRIPTS = REPO / "tests" / "fixtures" / "agent-transcripts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
TOKEN = "e2e-token-0123456789abcdef"
START_TIMEOUT_S = 30

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HubProcess:
    """``python orchestra.py`` on a fixed port and database, which a test can stop and start again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.records = root / "records"
        self.log_path = root / "hub.log"
        self.process: subprocess.Popen[bytes] | None = None
        bin_dir = root / "bin"
        bin_dir.mkdir(parents=True)
        self.records.mkdir()
        for name, transcript in (("claude", "claude-tool.jsonl"), ("codex", "codex-tool.jsonl"),
                                 ("gemini", "gemini-tool.jsonl")):
            install(bin_dir, name, TRANSCRIPTS / transcript, self.records)
        self.thinker = bin_dir / "thinker"
        self.thinker.write_text(THINKER)
        self.thinker.chmod(0o755)
        self.env = {
            **os.environ,
            "ORCHESTRA_HOST": "127.0.0.1",
            "ORCHESTRA_PORT": str(self.port),
            "ORCHESTRA_DATABASE_URL": f"sqlite:///{root / 'orchestra.db'}",
            "ORCHESTRA_WORKSPACES": str(root / "workspaces"),
            "ORCHESTRA_TOKEN": TOKEN,
            "ORCHESTRA_KILL_GRACE_S": "2",
            "ORCHESTRA_MAX_PARALLEL": "4",
            "ORCHESTRA_CLAUDE_BIN": str(bin_dir / "claude"),
            "ORCHESTRA_CODEX_BIN": str(bin_dir / "codex"),
            "ORCHESTRA_GEMINI_BIN": str(bin_dir / "gemini"),
        }

    def start(self) -> None:
        assert self.process is None, "the hub is already running"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([sys.executable, str(REPO / "orchestra.py")], cwd=self.root,
                                        env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the hub did not answer /health within {START_TIMEOUT_S} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM (the graceful stop systemd uses), then SIGKILL if it lingers."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

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
