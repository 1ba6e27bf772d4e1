"""The token: generated once into a 0600 file beside the database, printed by `token` and `url`."""

from __future__ import annotations

import stat
from pathlib import Path

from test_settings import run_entry_point


async def test_token_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    first = await run_entry_point(tmp_path, "token")
    second = await run_entry_point(tmp_path, "token")
    assert first.returncode == second.returncode == 0, first.stderr
    token = first.stdout.decode().strip()
    assert len(token) >= 40
    assert second.stdout.decode().strip() == token
    token_file = tmp_path / "orchestra.db.token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    url = await run_entry_point(tmp_path, "url")
    assert url.stdout.decode().strip() == f"http://localhost:8000/ui/#token={token}"
    assert token not in first.stderr.decode() + url.stderr.decode()  # printed on stdout only, never logged


async def test_token_from_the_environment_wins_and_writes_no_file(tmp_path: Path) -> None:
    chosen = "a-token-chosen-by-the-operator"
    result = await run_entry_point(tmp_path, "url", ORCHESTRA_TOKEN=chosen, ORCHESTRA_PORT="8005")
    assert result.stdout.decode().strip() == f"http://localhost:8005/ui/#token={chosen}"
    assert not (tmp_path / "orchestra.db.token").exists()
    short = await run_entry_point(tmp_path, "token", ORCHESTRA_TOKEN="short")
    assert short.returncode == 2
    assert "ORCHESTRA_TOKEN" in short.stderr.decode() and "short" not in short.stderr.decode()
