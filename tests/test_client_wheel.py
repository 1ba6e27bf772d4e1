"""The hub serves its own wheel (``GET /client/``), and a wheel carries the UI (issue 26, item 3: on
5d24be3 there was no ``/client/``, and a wheel built from the repository had no ``ui/``, so a hub
installed from it answered ``/ui/`` with 404)."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import httpx
import pytest
import trio
from conftest import TOKEN, LiveHub
from hubproc import hub_env, hub_process
from test_api_errors import assert_error

REPO = Path(__file__).resolve().parents[1]
INSTALL_S = 600  # a fresh venv installs the dependencies too (from pip's cache or the index)


async def run(argv: list[str], **kwargs: object) -> trio.CompletedProcess[bytes]:
    return await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False, **kwargs)  # type: ignore[arg-type]


async def test_a_wheel_built_from_the_repository_carries_the_ui(tmp_path: Path) -> None:
    with trio.fail_after(INSTALL_S):
        done = await run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                          "-w", str(tmp_path), str(REPO)])
    assert done.returncode == 0, done.stderr.decode()
    (wheel,) = [tmp_path / name for name in os.listdir(tmp_path) if name.startswith("orchestra_hub-")]
    names = zipfile.ZipFile(wheel).namelist()
    assert "orchestra/ui/index.html" in names and "orchestra/ui/app.js" in names
    assert not any("__pycache__" in name for name in names)


async def test_client_lists_the_wheel_without_a_token_and_serves_it(hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:  # no token: pip sends none
        listing = (await anonymous.get("/client/")).json()
        name = listing["wheel"]
        assert name == f"orchestra_hub-{listing['version']}-py3-none-any.whl"
        assert listing["pip_install"] == f"pip install {hub.url}/client/{name}"
        served = await anonymous.get(f"/client/{name}")
        assert served.status_code == 200 and served.content[:2] == b"PK"
        assert_error(await anonymous.get("/client/orchestra_hub-9.9-py3-none-any.whl"), 404, "not_found", name)
    archive = zipfile.ZipFile(__import__("io").BytesIO(served.content))
    assert archive.testzip() is None
    names = archive.namelist()
    assert "orchestra/cli.py" in names and "orchestra/ui/index.html" in names
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)
    assert not any(n.startswith(".") or "__pycache__" in n for n in names)


@pytest.mark.skipif(os.environ.get("ORCHESTRA_SKIP_INSTALL_TESTS") == "1", reason="ORCHESTRA_SKIP_INSTALL_TESTS=1")
async def test_a_fresh_venv_installs_the_served_wheel_then_status_works_and_the_installed_hub_serves_the_ui(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "laptop"
    env = hub_env(tmp_path / "vm", TOKEN)
    (tmp_path / "vm").mkdir()
    async with hub_process(env) as hub, hub.http() as http:
        project = (await http.post("/projects", json={"name": "served"})).json()
        listing = (await http.get("/client/")).json()
        with trio.fail_after(INSTALL_S):
            assert (await run([sys.executable, "-m", "venv", str(venv)])).returncode == 0
            # The README's line, as the hub printed it.
            install = await run([str(venv / "bin" / "python"), "-m", *listing["pip_install"].split(), "-q"],
                                cwd=str(tmp_path))
        assert install.returncode == 0, install.stderr.decode()
        laptop = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")} | {
            "ORCHESTRA_TOKEN": TOKEN, "XDG_CONFIG_HOME": str(tmp_path / "config")}
        status = await run([str(venv / "bin" / "orchestra"), "status", "served", "--hub", hub.url], env=laptop,
                           cwd=str(tmp_path))
        assert status.returncode == 0, status.stderr.decode()
        assert project["id"] in status.stdout.decode()

    # The installed package runs a hub of its own, which serves the UI from inside the package.
    installed_env = hub_env(tmp_path / "installed", TOKEN) | {"PYTHONSAFEPATH": "1"}
    (tmp_path / "installed").mkdir()
    async with hub_process(installed_env, command=[str(venv / "bin" / "orchestra"), "serve"],
                           cwd=tmp_path / "installed") as installed:
        async with httpx.AsyncClient(base_url=installed.url) as anonymous:
            page = await anonymous.get("/ui/")
            assert page.status_code == 200 and "<html" in page.text.lower()
            assert (await anonymous.get("/ui/app.js")).status_code == 200
        assert str(REPO) not in installed.log.decode()
