"""The bubblewrap (``bwrap``) command line that puts one agent process in its sandbox.

A :class:`SandboxSpec` is data (it crosses to a Ray worker as JSON); :func:`sandboxed_argv` turns it,
with the agent's argv, working directory and environment, into the command that is actually spawned,
wherever the agent runs. The layout, in bwrap's order (later mounts win):

- the whole system read-only (``--ro-bind / /``), a fresh ``/dev``, a ``/proc`` of the sandbox's own
  PID namespace (the hub and every other agent are invisible, so they cannot be signalled);
- every hidden path (the hub's state directory with its database, WAL and token, the workspaces
  root with every project and worktree, ``/home``, ``/root``, ``/run``) replaced by an empty
  read-only tmpfs, and the scratch paths (``/tmp``, ``/var/tmp``, the hub's HOME) by an empty
  writable one: a private /tmp, and a HOME where what a CLI writes beside its state vanishes; the
  masked files (the database, its WAL and the token, when their directory cannot be hidden whole)
  replaced by ``/dev/null`` mounted ``nodev``: they cannot be opened;
- then, on top: the ``readable`` paths read-only, the directory of the agent's executable read-only
  when it lies in a hidden path, the ``writable`` paths (the CLI's state directories) read-write, the
  git directory the worktree belongs to read-write, and the working directory read-write.

Processes: ``--unshare-pid``, and ``--die-with-parent`` only where the spawning *thread* lives as
long as the agent (the Ray keeper's main thread). Its signal fires when the thread that forked bwrap
exits, and trio forks from a worker thread that ends after 10 s idle: the hub's agents were SIGKILLed
mid-run. After a hub is killed, its next start kills every process carrying the mark, as for agents
outside a sandbox (killing the sandbox's init ends its whole PID namespace).
No ``--new-session``: the hub already starts every agent in a
session of its own with no controlling terminal (the TIOCSTI escape ``--new-session`` guards
against needs one), and bwrap's own ``setsid`` would take the agent out of the process group the hub
ends on cancel. Every process of the sandbox stays in that group and carries the execution's mark;
one that leaves the group still dies with the sandbox's PID namespace.

When the hub runs as root, bwrap would keep every capability inside (mknod and mount would undo the
read-only system): ``--cap-drop ALL`` takes them away.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import asdict, dataclass
from typing import Any, Literal

BWRAP = "bwrap"


@dataclass(frozen=True)
class SandboxSpec:
    """How one execution is sandboxed: absolute paths, already expanded by the hub."""

    hidden: tuple[str, ...]  # replaced by empty read-only directories
    scratch: tuple[str, ...] = ()  # replaced by empty writable directories (what is written there vanishes)
    masked: tuple[str, ...] = ()  # files replaced by an empty one (/dev/null): the database, its WAL, the token
    writable: tuple[str, ...] = ()  # bound read-write (a missing one is left out)
    readable: tuple[str, ...] = ()  # bound read-only (a missing one is left out)
    network: Literal["full", "none"] = "full"
    bwrap: str = BWRAP

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxSpec:
        return cls(tuple(data["hidden"]), tuple(data["scratch"]), tuple(data["masked"]), tuple(data["writable"]),
                   tuple(data["readable"]), data["network"], data.get("bwrap", BWRAP))


def _inside(path: str, parents: list[str]) -> bool:
    return any(path == parent or path.startswith(parent.rstrip("/") + "/") for parent in parents)


def _package_tree(executable: str) -> list[str]:
    """The whole ``node_modules`` tree an npm-installed CLI runs from (its entry script's own directory is
    not enough: Codex CLI loads its native binary from a sibling package, Gemini CLI its core), when it
    lies in a hidden path (an npm prefix under /home, a checkout under /tmp)."""
    parts = executable.split("/")
    return ["/".join(parts[: parts.index("node_modules") + 1])] if "node_modules" in parts else []


def sandboxed_argv(argv: list[str], cwd: str, env: dict[str, str], sandbox: SandboxSpec, *,
                   die_with_parent: bool = False) -> list[str]:
    """The bwrap command that runs ``argv`` in ``cwd`` inside ``sandbox``.

    Raises FileNotFoundError (named after ``argv[0]``) when the executable is not on the agent's PATH,
    exactly as spawning it directly would. Blocking (a few ``stat`` calls): call from a worker thread.
    """
    executable = shutil.which(argv[0], path=env.get("PATH", os.defpath))
    if executable is None:
        raise FileNotFoundError(errno.ENOENT, "executable not found", argv[0])
    if not os.path.isdir(cwd):
        raise FileNotFoundError(errno.ENOENT, "no such directory", cwd)
    command = [sandbox.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    hidden: list[str] = []
    scratch = set(sandbox.scratch)
    for path in sorted(set(sandbox.hidden) | scratch, key=len):  # parents first
        if os.path.isdir(path) and not os.path.islink(path):
            hidden.append(path)
            command += ["--tmpfs", path] if path in scratch else ["--perms", "0555", "--tmpfs", path]
    for path in sandbox.masked:  # those inside a hidden directory are out of sight already
        if os.path.lexists(path) and not _inside(path, hidden):
            command += ["--ro-bind-try", "/dev/null", path]
    resolved = os.path.realpath(executable)
    readable = [*sandbox.readable, *{os.path.dirname(executable), os.path.dirname(resolved), *_package_tree(resolved)}]
    for path in readable:
        if _inside(os.path.realpath(path), hidden) or _inside(path, hidden):
            command += ["--ro-bind-try", path, path]
    for path in (*sandbox.writable, cwd):
        command += ["--bind-try", path, path]
    if sandbox.network == "none":
        command.append("--unshare-net")
    if os.geteuid() == 0:
        command += ["--cap-drop", "ALL"]
    command += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if die_with_parent:
        command.append("--die-with-parent")
    command += ["--chdir", cwd, "--", *argv]
    return command
