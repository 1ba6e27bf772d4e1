"""The command line's help says what is true (found by the QA pass of issue 26): the installed script's
usage line names ``orchestra``, and ``token`` no longer claims to generate a token (only ``serve`` does)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestra.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def test_the_token_help_does_not_promise_a_new_token() -> None:
    help_text = subprocess.run([sys.executable, str(ROOT / "orchestra.py"), "--help"], capture_output=True,
                               text=True, check=True, cwd=ROOT).stdout
    assert help_text.startswith("usage: orchestra.py ")
    assert "generated on first use" not in help_text
    assert "the hub creates it when it first starts" in " ".join(help_text.split())


def test_the_installed_script_names_itself_orchestra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/home/alice/.orchestra/bin/orchestra", "status"])
    assert build_parser().format_usage().startswith("usage: orchestra ")
