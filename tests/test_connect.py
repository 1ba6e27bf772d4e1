"""``orchestra connect`` through a real ``sshd`` (Debian's openssh-server) on a loopback port, with a
throwaway host key and an authorized key, to a hub installed "on the VM" by systemd/install.sh (into
a temporary root) and running through its wrapper. The laptop side is the real ``orchestra.py`` with
the system's ``ssh``, run from a directory that is not the hub's."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from hubproc import ENTRY
from test_deploy import install, stand_in_pyz
from test_known_hubs import run as run_cli
from test_known_hubs import user_env

from benchmarks.hub_subprocess import BlockingHub, free_port

SSHD = Path("/usr/sbin/sshd")
WAIT_S = 60


def skip_reason() -> str | None:
    if not SSHD.exists():
        return f"{SSHD} is missing (apt-get install openssh-server)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "ssh is missing (apt-get install openssh-client)"
    return None


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


@dataclass
class Vm:
    """sshd on loopback and a hub installed by install.sh, as a laptop user sees them."""

    root: Path
    sshd_port: int
    key: Path
    known_hosts: Path
    hub: BlockingHub
    hub_port: int

    @property
    def helper(self) -> Path:
        return self.root / "usr/local/bin/orchestra-connect-info"

    @property
    def token_file(self) -> Path:
        return self.root / "var/lib/orchestra/orchestra.db.token"

    def connect_args(self, target: str | None = None, port: int | None = None) -> list[str]:
        return ["connect", target or f"{getpass.getuser()}@127.0.0.1", "-F", "/dev/null",
                "-p", str(port or self.sshd_port), "-i", str(self.key),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "--remote-helper", str(self.helper), "--no-open"]


def _start_sshd(tmp: Path) -> tuple[subprocess.Popen[str], int]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "host_key")], check=True)
    port = free_port()
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPidFile none\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "AllowTcpForwarding yes\nLogLevel INFO\n")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # the privilege separation directory
    sshd = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    listening = threading.Event()
    log: list[str] = []

    def read() -> None:
        assert sshd.stderr is not None
        for line in sshd.stderr:
            log.append(line)
            if "Server listening on" in line:
                listening.set()
        listening.set()

    threading.Thread(target=read, daemon=True).start()
    if not listening.wait(WAIT_S) or sshd.poll() is not None:
        sshd.kill()
        raise RuntimeError("sshd did not start:\n" + "".join(log))
    return sshd, port


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vm]:
    tmp = tmp_path_factory.mktemp("vm")
    root = tmp / "root"
    install(root, stand_in_pyz(tmp, "vm"))
    hub_port = free_port()
    with open(root / "etc/orchestra/orchestra.env", "a") as env_file:
        env_file.write(f"ORCHESTRA_PORT={hub_port}\n")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "id")], check=True)
    (tmp / "authorized_keys").write_text((tmp / "id.pub").read_text())
    sshd, sshd_port = _start_sshd(tmp)
    host_key = (tmp / "host_key.pub").read_text().split()
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{sshd_port} {host_key[0]} {host_key[1]}\n")
    hub = BlockingHub(None, command=[str(root / "usr/local/bin/orchestra"), "serve"], log_path=tmp / "hub.log")
    try:
        yield Vm(root, sshd_port, tmp / "id", tmp / "known_hosts", hub, hub_port)
    finally:
        hub.stop()
        sshd.terminate()
        sshd.wait(timeout=30)


def ssh_clients(vm: Vm) -> list[str]:
    """The ssh client processes talking to the test's sshd (there must be none once connect ended)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name == "ssh" and str(vm.sshd_port).encode() in argv:
            found.append(f"{entry.name}: {b' '.join(argv).decode(errors='replace')}")
    return found


def laptop_env(tmp_path: Path) -> dict[str, str]:
    return user_env(tmp_path)


async def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return await run_cli(args, env, cwd, within_s=WAIT_S)


async def test_connect_opens_the_tunnel_saves_the_hub_and_leaves_nothing(vm: Vm, tmp_path: Path) -> None:
    vm.hub.start()
    try:
        import httpx

        token = vm.token_file.read_text().strip()
        async with httpx.AsyncClient(base_url=vm.hub.url, headers={"Authorization": f"Bearer {token}"}) as http:
            assert (await http.post("/projects", json={"name": "on-the-vm"})).status_code == 201
        # 8000 taken on the laptop (when this machine lets us hold it): connect picks another port.
        holder = socket.socket()
        try:
            holder.bind(("127.0.0.1", 8000))
            holder.listen()
        except OSError:
            pass
        laptop = tmp_path / "laptop"
        await trio.Path(laptop).mkdir()
        process = await trio.lowlevel.open_process(
            [sys.executable, str(ENTRY), *vm.connect_args(), "--name", "vmtest"], env=laptop_env(tmp_path),
            cwd=str(laptop), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None and process.stderr is not None
        out = b""
        try:
            with trio.fail_after(WAIT_S):
                while b"connected to" not in out:
                    chunk = await process.stdout.receive_some(4096)
                    if not chunk:
                        err = await process.stderr.receive_some(65536)
                        pytest.fail(f"connect ended: {out.decode()} {err.decode()}")
                    out += chunk
            line = out.decode()
            assert "saved as 'vmtest'" in line and "http://127.0.0.1:8000" not in line, line

            import tomllib

            hubs_toml = tmp_path / "config/orchestra/hubs.toml"
            assert oct(hubs_toml.stat().st_mode & 0o777) == "0o600"
            saved = tomllib.loads(hubs_toml.read_text())["hubs"]["vmtest"]
            assert saved["token"] == token and saved["ssh"].endswith("@127.0.0.1")
            assert saved["url"].startswith("http://127.0.0.1:") and f":{vm.hub_port}" not in saved["url"]

            status = await run(["status", "on-the-vm", "--hub", "vmtest"], laptop_env(tmp_path),
                               tmp_path / "anywhere")
            assert status.returncode == 0, status.stderr
            assert "project on-the-vm" in status.stdout
            assert ssh_clients(vm), "the tunnel's ssh should be running"
        finally:
            holder.close()
            process.send_signal(signal.SIGINT)  # Ctrl-C
            with trio.fail_after(WAIT_S):
                await process.wait()
        assert process.returncode == 0
        assert ssh_clients(vm) == []
        after = await run(["status", "on-the-vm", "--hub", "vmtest"], laptop_env(tmp_path), tmp_path / "anywhere")
        assert after.returncode == 3 and saved["url"] in after.stderr  # the tunnel is gone
    finally:
        vm.hub.stop()


async def failed_connect(vm: Vm, tmp_path: Path, *extra: str, target: str | None = None,
                         port: int | None = None) -> str:
    done = await run([*vm.connect_args(target, port), *extra], laptop_env(tmp_path), tmp_path / "laptop")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("orchestra: "), done.stderr
    assert ssh_clients(vm) == []
    assert not (tmp_path / "config/orchestra/hubs.toml").exists()
    return done.stderr.strip()


async def test_connect_to_an_unreachable_host(vm: Vm, tmp_path: Path) -> None:
    closed = free_port()
    message = await failed_connect(vm, tmp_path, port=closed)
    assert message.startswith(f"orchestra: cannot connect to {getpass.getuser()}@127.0.0.1 over SSH: ")
    assert f"port {closed}: Connection refused" in message


async def test_connect_as_a_wrong_user(vm: Vm, tmp_path: Path) -> None:
    message = await failed_connect(vm, tmp_path, target="no-such-user-orchestra@127.0.0.1")
    assert message.startswith("orchestra: cannot connect to no-such-user-orchestra@127.0.0.1 over SSH: ")
    assert "Permission denied" in message


async def test_connect_when_the_hub_is_not_running(vm: Vm, tmp_path: Path) -> None:
    assert vm.hub.process is None
    message = await failed_connect(vm, tmp_path)
    assert message == (f"orchestra: no hub answers on {getpass.getuser()}@127.0.0.1's port {vm.hub_port} "
                       "(is it running? on the VM: sudo systemctl status orchestra)")


async def test_connect_without_a_token(vm: Vm, tmp_path: Path) -> None:
    aside = vm.token_file.with_name("token.aside")
    vm.token_file.rename(aside)
    try:
        message = await failed_connect(vm, tmp_path)
    finally:
        aside.rename(vm.token_file)
    assert message == (f"orchestra: cannot get the hub's token from {getpass.getuser()}@127.0.0.1: orchestra: no "
                       f"token yet at {vm.token_file} (the hub creates it on its first start: "
                       "sudo systemctl start orchestra)")


async def test_connect_without_the_helper(vm: Vm, tmp_path: Path) -> None:
    message = await failed_connect(vm, tmp_path, "--remote-helper", "/nonexistent/orchestra-connect-info")
    assert "/nonexistent/orchestra-connect-info is not on" in message
