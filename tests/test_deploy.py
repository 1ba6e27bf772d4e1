"""Deployment: the systemd unit, systemd/install.sh (into a temporary root, twice), journald logging
and sd_notify. Building the real pyz needs PyPI and a minute: .ci/deploy-check.sh does that."""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import zipapp
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.hub_subprocess import BlockingHub, free_port
from orchestra.core.logging_setup import configure_logging, log_context
from orchestra.core.settings import Settings
from orchestra.system.sd_notify import notify

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "orchestra.service"
INSTALL = REPO / "systemd" / "install.sh"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


# -- the unit -------------------------------------------------------------------------------------


def test_unit_stops_gracefully_and_leaves_no_agent() -> None:
    unit = unit_settings()
    assert unit["KillMode"] == ["mixed"] and unit["KillSignal"] == ["SIGTERM"]
    assert unit["Restart"] == ["on-failure"]
    # The hub's worst case: HTTP graceful close (3 s in orchestra/server.py; 5 allowed) + kill grace + final writes.
    timeout = int(unit["TimeoutStopSec"][0].removesuffix("s"))
    assert timeout >= 5 + Settings.model_fields["kill_grace_s"].default + 10
    assert unit["StateDirectory"] == ["orchestra"] and unit["User"] == ["orchestra"]
    assert unit["EnvironmentFile"] == ["-/etc/orchestra/orchestra.env"]
    assert unit["OOMPolicy"] == ["continue"]


def test_unit_sandbox_leaves_what_agents_need() -> None:
    unit = unit_settings()
    for breaks_agents in ("MemoryDenyWriteExecute", "SystemCallFilter", "RestrictNamespaces", "PrivateNetwork",
                          "IPAddressDeny", "ProcSubset", "DynamicUser"):
        assert breaks_agents not in unit, breaks_agents
    env = dict(value.split("=", 1) for value in unit["Environment"])
    assert "/usr/local/bin" in env["PATH"].split(":")  # npm's global bin
    assert env["ORCHESTRA_DATABASE_URL"] == "sqlite:////var/lib/orchestra/orchestra.db"
    assert env["ORCHESTRA_WORKSPACES"].startswith("/var/lib/orchestra/")
    # install.sh copies these lines into the operator wrapper as shell: keep them plain.
    for value in unit["Environment"]:
        assert re.fullmatch(r"[A-Z_]+=[\w/:.-]+", value), value


def test_unit_verifies() -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: apt-get install -y systemd")
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    done = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True)
    # verify exits 0 on directives it ignores: any output at all is a failure.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_env_example_names_only_real_settings() -> None:
    text = (REPO / "systemd" / "orchestra.env.example").read_text()
    named = set(re.findall(r"^#?(ORCHESTRA_[A-Z_]+)=", text, re.MULTILINE))
    known = {"ORCHESTRA_" + name.upper() for name in Settings.model_fields}
    assert named and named <= known, named - known


# -- install.sh -----------------------------------------------------------------------------------


def stand_in_pyz(tmp_path: Path, name: str) -> Path:
    """The hub as a plain zipapp of the source tree (its dependencies come from this interpreter):
    install.sh treats it as the real pyz, which .ci/deploy-check.sh builds and installs."""
    src = tmp_path / f"{name}-src"
    shutil.copytree(REPO / "orchestra", src / "orchestra", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "__main__.py").write_text(f"# {name}\nimport sys\nfrom orchestra.cli import main\nsys.exit(main())\n")
    target = tmp_path / f"{name}.pyz"
    zipapp.create_archive(src, target)
    return target


def install(root: Path, pyz: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--no-systemctl", "--no-user", "--pyz", str(pyz)],
        env=os.environ | {"PYTHON": sys.executable}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_install_twice_upgrades_in_place_and_keeps_the_database(tmp_path: Path) -> None:
    import httpx

    root = tmp_path / "root"
    first, second = stand_in_pyz(tmp_path, "release1"), stand_in_pyz(tmp_path, "release2")
    done = install(root, first)
    state = root / "var/lib/orchestra"
    assert (root / "opt/orchestra/orchestra.pyz").read_bytes() == first.read_bytes()
    assert (root / "etc/systemd/system/orchestra.service").read_text() == UNIT.read_text()
    assert oct((root / "etc/orchestra/orchestra.env").stat().st_mode & 0o777) == "0o600"
    for d in ("workspaces", ".claude", ".codex", ".gemini"):
        assert (state / d).is_dir()
    assert "ssh -L 8000:localhost:8000 -L 8001:localhost:8001" in done.stdout
    # Only the hub creates its token, on its first start (never install.sh or `orchestra url`).
    assert not (state / "orchestra.db.token").exists()
    assert "(the login link, once the hub has started: sudo orchestra url)" in done.stdout

    # The operator sets a port; the hub runs through the wrapper and gets a project.
    port = free_port()
    with open(root / "etc/orchestra/orchestra.env", "a") as env_file:
        env_file.write(f"ORCHESTRA_PORT={port}\n")
    url = f"http://127.0.0.1:{port}"

    @contextmanager
    def run_hub(name: str) -> Iterator[httpx.Client]:
        """The hub through the installed wrapper: the unit's environment and the operator's env file."""
        hub = BlockingHub(None, command=[str(root / "usr/local/bin/orchestra"), "serve"],
                          log_path=tmp_path / f"{name}.log")
        hub.start()
        try:
            headers = {"Authorization": f"Bearer {(state / 'orchestra.db.token').read_text().strip()}"}
            with httpx.Client(base_url=url, headers=headers, timeout=10) as http:
                yield http
            assert hub.stop(within=15) == 0, hub.log_tail()
        finally:
            hub.stop()

    with run_hub("before") as http:
        assert http.post("/projects", json={"name": "survives upgrades"}).status_code == 201
    assert (state / "orchestra.db").is_file()
    token = (state / "orchestra.db.token").read_text().strip()

    done = install(root, second)
    assert (root / "opt/orchestra/orchestra.pyz").read_bytes() == second.read_bytes()
    assert f"ORCHESTRA_PORT={port}" in (root / "etc/orchestra/orchestra.env").read_text(), "env file overwritten"
    assert len(list((state / "backups").glob("pre-upgrade-*.db"))) == 1
    assert f"http://localhost:{port}/ui/#token={token}" in done.stdout  # same token after the upgrade; the hub's port
    with run_hub("after") as http:
        assert [p["name"] for p in http.get("/projects").json()["projects"]] == ["survives upgrades"]


def test_install_refuses_an_old_python(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")  # "sys.version_info < (3, 11)"
    fake.chmod(0o755)
    done = subprocess.run(["bash", str(INSTALL), "--root", str(tmp_path / "root"), "--no-systemctl", "--no-user",
                           "--pyz", str(INSTALL)], env=os.environ | {"PYTHON": str(fake)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "3.11" in done.stderr
    assert not (tmp_path / "root/opt").exists()


# -- journald logging and sd_notify ---------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def test_log_lines_are_key_value_with_ids(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    log = logging.getLogger("orchestra.test")
    with log_context(project_id="p1", run_id="r1"):
        log.warning("agent ended", extra={"execution_id": "e1", "exit_code": 143})
    try:
        raise RuntimeError("two\nlines")
    except RuntimeError:
        log.exception('said "no"')
    first, second = out.getvalue().splitlines()
    assert re.fullmatch(r"ts=\S+ level=warning logger=orchestra.test msg=\"agent ended\" "
                        r"project=p1 run=r1 execution=e1 exit_code=143", first), first
    assert 'msg="said \\"no\\""' in second and "RuntimeError: two\\nlines" in second


def test_log_lines_carry_syslog_priority_under_journald(root_logging: None, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "journal", "w") as stream:
        stat = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
        configure_logging(stream=stream)
        logging.getLogger("orchestra.test").error("disk full")
    assert (tmp_path / "journal").read_text() == "<3>level=error logger=orchestra.test msg=\"disk full\"\n"


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_sends_one_datagram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, abstract: bool) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        if abstract:
            name = f"orchestra-test-{os.getpid()}"
            server.bind("\0" + name)
            monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        else:
            server.bind(str(tmp_path / "notify"))
            monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        assert notify("READY=1", "STATUS=listening")
        assert server.recv(4096) == b"READY=1\nSTATUS=listening"


def test_notify_without_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
