"""Known hubs (~/.config/orchestra/hubs.toml) and which hub a client command talks to: the real
``orchestra.py`` as a subprocess, run from a directory that is not the hub's, against a real hub."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import trio
from conftest import TOKEN, WAIT_S, LiveHub
from hubproc import ENTRY, hub_env, hub_process

from benchmarks.hub_subprocess import free_port
from orchestra.clients.known_hubs import split_link


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A laptop user's environment: no ORCHESTRA_* settings, its own config directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRA_", "XDG_CONFIG_HOME"))}
    return env | {"XDG_CONFIG_HOME": str(tmp_path / "config")} | extra


async def run(args: list[str], env: dict[str, str], cwd: Path,
              within_s: float = WAIT_S) -> subprocess.CompletedProcess[str]:
    """``python orchestra.py ARGS`` as a user runs it, from ``cwd``; its output as text."""
    await trio.Path(cwd).mkdir(parents=True, exist_ok=True)
    with trio.fail_after(within_s):
        done = await trio.run_process([sys.executable, str(ENTRY), *args], env=env, cwd=str(cwd),
                                      capture_stdout=True, capture_stderr=True, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def hub_dir_env(tmp_path: Path, hub: LiveHub, **extra: str) -> dict[str, str]:
    """The environment of an operator on the hub's machine: the hub's database and port."""
    return user_env(tmp_path, ORCHESTRA_DATABASE_URL=f"sqlite:///{tmp_path / 'hubdir' / 'orchestra.db'}",
                    ORCHESTRA_PORT=str(hub.running.port), **extra)


async def test_token_save_then_status_by_name_from_another_directory(hub: LiveHub, tmp_path: Path) -> None:
    await hub.create_project(name="saved-demo")
    saved = await run(["token", "--save", "box"], hub_dir_env(tmp_path, hub, ORCHESTRA_TOKEN=TOKEN),
                      tmp_path / "hubdir")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.strip() == TOKEN
    path = tmp_path / "config" / "orchestra" / "hubs.toml"
    assert f"saved {hub.url} as 'box' in {path}" in saved.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["hubs"]["box"] == {"url": hub.url, "token": TOKEN}

    elsewhere = tmp_path / "elsewhere"
    by_name = await run(["status", "saved-demo", "--hub", "box"], user_env(tmp_path), elsewhere)
    assert by_name.returncode == 0, by_name.stderr
    assert "project saved-demo" in by_name.stdout
    # With no --hub and no local hub here: the only saved hub.
    only = await run(["status", "saved-demo"], user_env(tmp_path), elsewhere)
    assert only.returncode == 0, only.stderr
    # A URL that is a saved hub's takes that hub's token.
    by_url = await run(["status", "saved-demo", "--hub", hub.url], user_env(tmp_path), elsewhere)
    assert by_url.returncode == 0, by_url.stderr
    listed = await run(["hubs"], user_env(tmp_path), elsewhere)
    assert listed.stdout.split() == ["box", hub.url]


async def test_xdg_rules_for_the_file(hub: LiveHub, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = hub_dir_env(tmp_path, hub, ORCHESTRA_TOKEN=TOKEN, HOME=str(home), XDG_CONFIG_HOME="relative/ignored")
    saved = await run(["token", "--save", "h"], env, tmp_path / "hubdir")
    assert saved.returncode == 0, saved.stderr
    assert (home / ".config" / "orchestra" / "hubs.toml").is_file()
    assert not (tmp_path / "hubdir" / "relative").exists()


async def test_errors_name_the_hub_url_they_tried(hub: LiveHub, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    wrong = await run(["status", "x", "--hub", hub.url, "--token", "wrong-token-wrong-token"], user_env(tmp_path),
                      elsewhere)
    assert wrong.returncode == 1
    assert wrong.stderr.startswith(f"orchestra: GET {hub.url}/projects: 401 missing or wrong token")
    assert wrong.stderr.count("\n") == 1

    nobody = f"http://127.0.0.1:{free_port()}"
    down = await run(["status", "x", "--hub", nobody, "--token", TOKEN], user_env(tmp_path), elsewhere)
    assert down.returncode == 3
    assert down.stderr.startswith(f"orchestra: cannot reach the hub at {nobody}: ") and down.stderr.count("\n") == 1

    no_token = await run(["status", "x", "--hub", nobody], user_env(tmp_path), elsewhere)
    assert no_token.returncode == 2
    assert no_token.stderr == f"orchestra: no token for the hub at {nobody}: pass --token or set ORCHESTRA_TOKEN\n"

    nothing = await run(["status", "x"], user_env(tmp_path, ORCHESTRA_PORT="8005"), elsewhere)
    assert nothing.returncode == 2
    assert nothing.stderr.startswith("orchestra: no token for the local hub at http://127.0.0.1:8005 ")
    assert "orchestra connect" in nothing.stderr and nothing.stderr.count("\n") == 1

    unknown = await run(["status", "x", "--hub", "nosuch"], user_env(tmp_path), elsewhere)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("orchestra: no hub named 'nosuch' (known: none saved in ")


async def test_several_saved_hubs_need_a_choice(hub: LiveHub, tmp_path: Path) -> None:
    for name in ("one", "two"):
        done = await run(["token", "--save", name], hub_dir_env(tmp_path, hub, ORCHESTRA_TOKEN=TOKEN),
                         tmp_path / "hubdir")
        assert done.returncode == 0, done.stderr
    ambiguous = await run(["status", "x"], user_env(tmp_path), tmp_path / "elsewhere")
    assert ambiguous.returncode == 2
    assert "2 saved hubs: pick one with --hub NAME (one, two)" in ambiguous.stderr
    assert "http://127.0.0.1:8000" in ambiguous.stderr


async def test_the_hub_writes_its_url_and_the_client_finds_it_by_its_files(tmp_path: Path) -> None:
    """Issue 26, item 5: on 5d24be3 `url`, `token --save` and the client assumed port 8000 unless
    ORCHESTRA_PORT was set again in that shell, and `token` in another directory minted a new token
    that then won over the saved hub. The login link `orchestra url` prints works as --hub (and so for
    `orchestra desktop`, which resolves hubs the same way)."""
    hubdir, elsewhere = tmp_path / "hubdir", tmp_path / "elsewhere"
    hubdir.mkdir()
    env = hub_env(hubdir, "")
    del env["ORCHESTRA_TOKEN"]  # the hub makes its own token file
    async with hub_process(env, cwd=hubdir) as hub:
        url_file = hubdir / "orchestra.db.url"
        assert url_file.read_text() == f"{hub.url}\n"
        token = (hubdir / "orchestra.db.token").read_text().strip()
        async with hub.http() as http:
            await http.post("/projects", json={"name": "found"}, headers={"Authorization": f"Bearer {token}"})
        operator = user_env(tmp_path)  # no ORCHESTRA_PORT, no ORCHESTRA_TOKEN: only the hub's files
        link = await run(["url"], operator, hubdir)
        assert link.stdout == f"http://localhost:{hub.port}/ui/#token={token}\n", link.stderr
        info = await run(["connect-info"], operator, hubdir)  # what `orchestra connect` reads over SSH
        assert json.loads(info.stdout) == {"host": "127.0.0.1", "port": hub.port, "token": token}, info.stderr
        saved = await run(["token", "--save", "vm"], operator, hubdir)
        assert saved.returncode == 0, saved.stderr
        assert f"saved {hub.url} as 'vm'" in saved.stderr and f"URL from {url_file}" in saved.stderr
        local = await run(["status", "found"], operator, hubdir)
        assert local.returncode == 0, local.stderr

        minted = await run(["token"], operator, elsewhere)
        assert minted.returncode == 1 and "no token yet at" in minted.stderr
        assert list(elsewhere.iterdir()) == []  # nothing minted: the saved hub still wins there
        by_saved = await run(["status", "found"], operator, elsewhere)
        assert by_saved.returncode == 0, by_saved.stderr
        by_link = await run(["status", "found", "--hub", link.stdout.strip()], user_env(tmp_path, XDG_CONFIG_HOME=str(
            tmp_path / "empty-config")), elsewhere)
        assert by_link.returncode == 0, by_link.stderr
    down = await run(["status", "found"], operator, hubdir)
    assert down.returncode == 3
    assert down.stderr.startswith(f"orchestra: cannot reach the hub at {hub.url} (URL from {url_file}, token from "
                                  f"{hubdir / 'orchestra.db.token'}): ")


def test_a_login_link_splits_into_the_hub_and_its_token() -> None:
    assert split_link("http://127.0.0.1:8095/ui/#token=abc%2Bd") == ("http://127.0.0.1:8095", "abc+d")
    assert split_link("http://localhost:8000/ui") == ("http://localhost:8000", None)
    assert split_link("https://hub.example/orchestra/ui/index.html#token=t") == ("https://hub.example/orchestra", "t")
    assert split_link("http://localhost:8000/") == ("http://localhost:8000", None)
