"""The token: generated once into a 0600 file beside the database, printed by `token` and `url`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hubproc import hub_env, hub_process
from test_settings import run_entry_point


async def test_token_is_generated_once_into_a_private_file_by_the_hub(tmp_path: Path) -> None:
    env = hub_env(tmp_path, "") | {"ORCHESTRA_TOKEN": ""}
    env.pop("ORCHESTRA_TOKEN")
    async with hub_process(env) as hub:
        first = await run_entry_point(tmp_path, "token", ORCHESTRA_DATABASE_URL=env["ORCHESTRA_DATABASE_URL"])
        second = await run_entry_point(tmp_path, "token", ORCHESTRA_DATABASE_URL=env["ORCHESTRA_DATABASE_URL"])
        url = await run_entry_point(tmp_path, "url", ORCHESTRA_DATABASE_URL=env["ORCHESTRA_DATABASE_URL"])
    assert first.returncode == second.returncode == 0, first.stderr
    token = first.stdout.decode().strip()
    assert len(token) >= 40
    assert second.stdout.decode().strip() == token
    token_file = tmp_path / "orchestra.db.token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # The port the hub bound (port 0: any free one), read from the URL file it wrote: no ORCHESTRA_PORT.
    assert url.stdout.decode().strip() == f"http://localhost:{hub.port}/ui/#token={token}"
    assert token not in first.stderr.decode() + url.stderr.decode() + hub.log.decode()  # never logged
    assert f"the UI: http://localhost:{hub.port}/ui/ " in hub.log.decode()  # the start log has the link


async def test_token_and_url_never_create_a_token(tmp_path: Path) -> None:
    """Issue 26, item 5: on 5d24be3 `orchestra token` in any directory minted a token file there."""
    for command in ("token", "url"):
        refused = await run_entry_point(tmp_path, command)
        assert refused.returncode == 1
        assert refused.stderr.decode() == (
            f"orchestra: no token yet at {tmp_path / 'orchestra.db.token'} (the hub creates it when it first "
            "starts: orchestra serve; or set ORCHESTRA_TOKEN, or ORCHESTRA_DATABASE_URL to the hub's database)\n")
    assert os.listdir(tmp_path) == []


async def test_token_from_the_environment_wins_and_writes_no_file(tmp_path: Path) -> None:
    chosen = "a-token-chosen-by-the-operator"
    result = await run_entry_point(tmp_path, "url", ORCHESTRA_TOKEN=chosen, ORCHESTRA_PORT="8005")
    assert result.stdout.decode().strip() == f"http://localhost:8005/ui/#token={chosen}"
    assert not (tmp_path / "orchestra.db.token").exists()
    short = await run_entry_point(tmp_path, "token", ORCHESTRA_TOKEN="short")
    assert short.returncode == 2
    assert "ORCHESTRA_TOKEN" in short.stderr.decode() and "short" not in short.stderr.decode()
