"""The command line's help says what is true (found by the QA pass of issue 26): the installed script's
usage line names ``orchestra``, and ``token`` no longer claims to generate a token (only ``serve`` does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from conftest import TOKEN, LiveHub
from test_known_hubs import user_env

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



async def test_a_client_command_whose_reader_went_away_ends_quietly(hub: LiveHub, tmp_path: Path) -> None:
    """`orchestra status demo | head -1` printed a BrokenPipeError traceback; now it ends, 0, with
    nothing on stderr. The pipe's reading end is closed before the command starts, as `head` closes it."""
    await hub.create_project(name="piped")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        with trio.fail_after(60):
            done = await trio.run_process(
                [sys.executable, str(ROOT / "orchestra.py"), "status", "piped", "--hub", hub.url, "--token", TOKEN],
                env=user_env(tmp_path), cwd=str(tmp_path), stdout=write_end, capture_stderr=True, check=False)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr.decode()) == (0, "")
