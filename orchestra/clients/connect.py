"""``orchestra connect [user@]vm``, run on a laptop: the SSH tunnel to a hub on a VM, its token, a
saved hub, and the UI, logged in.

One SSH connection, made by the system's ``ssh`` (its config, keys, agent, password and host-key
prompts are its own: we handle no password): a master connection (``-M -N``, keepalives) with a
control socket in a private temporary directory. Over it, ``orchestra-connect-info`` (written by
systemd/install.sh) prints the hub's port and token as one JSON line; then ``ssh -O forward`` adds
the tunnel from a local port (the hub's own port when free, else 8000-8009, else any free one) to the
hub. The hub is saved in ``hubs.toml`` (:mod:`orchestra.clients.known_hubs`) under a name (the host's, by
default) and the UI opens: a native window when the desktop extra is installed
(:mod:`orchestra.clients.desktop`), else the default browser. Closing the window, Ctrl-C or SIGTERM ends
the master, and with it the tunnel; every failure is one line and exit code 1, with nothing left
running.
"""

from __future__ import annotations

import json
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from orchestra.clients import known_hubs

REMOTE_HELPER = "/usr/local/bin/orchestra-connect-info"
READY = "orchestra-ssh-ready"
PREFERRED_PORTS: tuple[int, ...] = tuple(range(8000, 8010))


class ConnectError(Exception):
    """Why connecting failed, in one line."""


@dataclass
class Master:
    """The SSH master connection: its process, control socket and what it said on stderr."""

    target: str
    options: list[str]
    control_dir: Path
    process: subprocess.Popen[str] | None = None
    stderr: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def control_path(self) -> Path:
        return self.control_dir / "ctl"

    def ssh(self, *args: str) -> list[str]:
        """An ssh command that goes through the master connection."""
        return ["ssh", "-o", f"ControlPath={self.control_path}", "-o", "LogLevel=ERROR", *self.options, *args]

    def start(self) -> None:
        command = ["ssh", "-M", "-N", "-o", "ControlMaster=yes", "-o", f"ControlPath={self.control_path}",
                   "-o", "ControlPersist=no", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
                   "-o", "ConnectTimeout=20", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
                   "-o", "PermitLocalCommand=yes", "-o", f"LocalCommand=echo {READY}", *self.options, self.target]
        # ssh stays in our process group (its prompts read the terminal) but ignores SIGINT, which
        # it honours: a Ctrl-C reaches us, and we end it in order.
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, errors="replace",
                                        preexec_fn=_ignore_sigint)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._reader = threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True)
        self._reader.start()
        # The LocalCommand runs once the connection is authenticated and the control socket listens.
        for line in self.process.stdout:
            if line.strip() == READY:
                return
        self.process.wait()
        self._reader.join(timeout=5)
        raise ConnectError(f"cannot connect to {self.target} over SSH: {self.last_error('ssh exited')}")

    def _read_stderr(self, stream: Any) -> None:
        for line in stream:
            if line.strip():
                self.stderr.append(line.strip())

    def last_error(self, default: str) -> str:
        return self.stderr[-1] if self.stderr else default

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def ssh_master(target: str, options: Sequence[str]) -> Iterator[Master]:
    if shutil.which("ssh") is None:
        raise ConnectError("ssh is not installed (Debian: apt-get install openssh-client)")
    # A short path: a unix socket's path is limited to ~100 bytes.
    control_dir = Path(tempfile.mkdtemp(prefix="orch-ssh-", dir="/tmp" if Path("/tmp").is_dir() else None))
    master = Master(target, list(options), control_dir)
    try:
        master.start()
        yield master
    finally:
        master.stop()
        shutil.rmtree(control_dir, ignore_errors=True)


@dataclass(frozen=True)
class InstalledHub:
    """The hub installed on the VM, as its helper reports it: where it listens and its token."""

    host: str
    port: int
    token: str


def remote_hub(master: Master, helper: str) -> InstalledHub:
    """Run the install's helper over the master connection: the hub's port and token."""
    done = subprocess.run(master.ssh(master.target, shlex.quote(helper)), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace", timeout=120)
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == 127:
        raise ConnectError(f"{helper} is not on {master.target}: install the hub there with systemd/install.sh "
                           "(or name the helper with --remote-helper)")
    if done.returncode != 0:
        said = lines[-1] if lines else f"{helper} exited with {done.returncode}"
        raise ConnectError(f"cannot get the hub's token from {master.target}: {said}")
    try:
        info = json.loads(done.stdout.strip().splitlines()[-1])
        return InstalledHub(str(info.get("host") or "127.0.0.1"), int(info["port"]), str(info["token"]))
    except (ValueError, KeyError, IndexError, TypeError):
        raise ConnectError(f"{helper} on {master.target} did not answer with the hub's port and token: "
                           f"{done.stdout.strip()[:200]!r}") from None


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_local_port(wanted: int | None, remote_port: int) -> int:
    if wanted is not None:
        if not port_is_free(wanted):
            raise ConnectError(f"local port {wanted} is taken: pick another with --local-port, or leave it out")
        return wanted
    for candidate in (remote_port, *PREFERRED_PORTS):
        if port_is_free(candidate):
            return int(candidate)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def forward(master: Master, local_port: int, hub: InstalledHub) -> None:
    remote_host = "127.0.0.1" if hub.host in known_hubs.LOCAL_HOSTS else hub.host
    spec = f"127.0.0.1:{local_port}:{remote_host}:{hub.port}"
    done = subprocess.run(master.ssh("-O", "forward", "-L", spec, master.target), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace", timeout=60)
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"ssh exited with {done.returncode}"
        raise ConnectError(f"cannot open the tunnel localhost:{local_port} -> {master.target}:{hub.port}: {said}")


def check_hub(url: str, target: str, hub: InstalledHub) -> None:
    try:
        with httpx.Client(base_url=url, timeout=20) as http:
            health = http.get("/health")
            if health.status_code != 200 or health.json().get("status") != "ok":
                raise ConnectError(f"what answers on {target}'s port {hub.port} is not an Orchestra hub "
                                   f"({health.status_code})")
            projects = http.get("/projects", headers={"Authorization": f"Bearer {hub.token}"})
    except (httpx.TransportError, ValueError):
        raise ConnectError(f"no hub answers on {target}'s port {hub.port} (is it running? on the VM: "
                           "sudo systemctl status orchestra)") from None
    if projects.status_code == 401:
        raise ConnectError(f"the hub on {target} refuses the token its state directory holds")


def default_name(target: str) -> str:
    return target.rsplit("@", 1)[-1] or target


def connect(target: str, *, name: str | None, ssh_options: Sequence[str], helper: str, local_port: int | None,
            ui: str) -> int:
    """Connect, then hold the tunnel until the window closes, Ctrl-C, SIGTERM or the connection drops."""
    name = name or default_name(target)
    if not known_hubs.valid_name(name):
        raise ConnectError(f"'{name}' cannot name a hub (no '/' or '://'): pass --name")
    with ssh_master(target, ssh_options) as master:
        hub = remote_hub(master, helper)
        port = pick_local_port(local_port, hub.port)
        forward(master, port, hub)
        url = f"http://127.0.0.1:{port}"
        check_hub(url, target, hub)
        try:
            path = known_hubs.save(known_hubs.SavedHub(name, url, hub.token, ssh=target))
        except (OSError, known_hubs.HubNotFound) as exc:
            raise ConnectError(f"cannot save the hub: {exc}") from None
        print(f"connected to {target}: the hub is at {url} (saved as '{name}' in {path}; "
              f"orchestra status --hub {name} ...)", flush=True)
        if ui == "window":
            from orchestra.clients import desktop

            print("the window is open: closing it ends the tunnel", flush=True)
            closed = desktop.open_window(url, hub.token, name=name, until=master.wait)
            if closed:
                return 0
        else:
            if ui == "browser":
                webbrowser.open(f"{url}/ui/#token={hub.token}")
                print(f"opened {url}/ui/ in the browser", flush=True)
            print("Ctrl-C ends the tunnel", flush=True)
            master.wait()
        raise ConnectError(f"the SSH connection to {target} ended: {master.last_error('ssh exited')}")


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: Any) -> int:
    """The ``connect`` command: 0 when the user ended it, 1 (one line on stderr) when it failed."""
    from orchestra.clients.desktop import available

    ui = "none" if args.no_open else "browser" if args.browser or available() is not None else "window"
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        return connect(args.target, name=args.name, ssh_options=[o for opt in args.ssh_option for o in ("-o", opt)]
                       + (["-p", str(args.port)] if args.port else [])
                       + (["-i", args.identity] if args.identity else [])
                       + (["-F", args.ssh_config] if args.ssh_config else []),
                       helper=args.remote_helper, local_port=args.local_port, ui=ui)
    except ConnectError as exc:
        print(f"orchestra: {exc}", file=sys.stderr)
        return 1
    except subprocess.TimeoutExpired as exc:
        print(f"orchestra: ssh did not answer within {exc.timeout:.0f} s: {' '.join(map(str, exc.cmd))}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "connect", help="from a laptop: SSH tunnel to a hub on a VM, its token, a saved hub, the UI",
        description="Open an SSH tunnel to the hub on VM (with the system's ssh), fetch its token, save it "
        "as NAME in ~/.config/orchestra/hubs.toml and open the UI logged in; Ctrl-C or closing the window ends "
        "the tunnel.")
    parser.add_argument("target", metavar="[user@]vm", help="the VM, as you would give it to ssh")
    parser.add_argument("--name", help="save the hub under this name (default: the VM's host name)")
    parser.add_argument("-p", "--port", type=int, help="the VM's SSH port")
    parser.add_argument("-i", "--identity", help="the SSH private key to use")
    parser.add_argument("-F", "--ssh-config", metavar="FILE", help="ssh's configuration file (default: ssh's own)")
    parser.add_argument("-o", "--ssh-option", action="append", default=[], metavar="OPTION",
                        help="an ssh -o option, e.g. -o ProxyJump=bastion (repeatable)")
    parser.add_argument("--local-port", type=int, help="the tunnel's local port (default: the hub's port if free, "
                        "else 8000-8009, else any free one)")
    parser.add_argument("--remote-helper", default=REMOTE_HELPER,
                        help=f"the command on the VM that prints the hub's port and token (default: {REMOTE_HELPER})")
    ui = parser.add_mutually_exclusive_group()
    ui.add_argument("--browser", action="store_true", help="open the UI in the browser even with the desktop extra")
    ui.add_argument("--no-open", action="store_true", help="open no UI: only the tunnel (for the terminal client)")
