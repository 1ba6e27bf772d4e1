"""Every agent in a sandbox: what an execution may see, write and inherit (docs/SECURITY.md).

:class:`Sandbox` is the hub's side, decided once at start (:func:`open_sandbox`): ``ORCHESTRA_SANDBOX``
= ``auto`` (bubblewrap when it works here, else off, with one warning line), ``bwrap`` (the hub refuses
to start without it) or ``off``. Its :attr:`Sandbox.state` is what ``/health`` says (``"bwrap"`` or
``"off: <reason>"``). For one execution it gives:

- :meth:`Sandbox.spec_for`: the :class:`~orchestra.system.bwrap.SandboxSpec` (hidden: the hub's state
  directory, the workspaces root, every home, /tmp, /run; writable: the template's state directories
  and the worktree's git directory; readable: the template's own; the template's network);
- :meth:`Sandbox.environment`: an allowlist (PATH, HOME, the locale, TERM, proxies and certificates)
  plus the template's ``env_passthrough`` names (``ANTHROPIC_*``: a prefix) and its ``env``. With the
  sandbox off, agents inherit what they always did (every CLI's variables);
- :meth:`Sandbox.describe`: what the execution records (``"bwrap"``, ``"bwrap, network none"``, or the
  off state).

Template paths are absolute, ``~/…`` (the hub's HOME) or ``$NAME/…`` (a variable of the hub's
environment; left out when unset). A trailing ``/`` on a writable path means a directory that is
created when missing; any other missing path is left out. :func:`refused_path` is the rule that keeps
a template from mounting the hub's state directory, its token or the workspaces root (a 422).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import trio

from orchestra.core.errors import Unprocessable
from orchestra.core.models import TemplateCreate
from orchestra.core.rows import Template, TemplateSandbox
from orchestra.core.settings import ConfigError, Settings
from orchestra.system import bwrap
from orchestra.system.bwrap import SandboxSpec, sandboxed_argv
from orchestra.system.process import group_members, reap_orphaned_members

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0

# What every sandboxed agent gets from the hub's environment, whatever its template.
BASE_ENVIRONMENT = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
                              "IS_SANDBOX", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "HTTP_PROXY",
                              "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"})
BASE_PREFIXES = ("LC_",)
# Hidden from every agent besides the hub's own state and workspaces (read-only and empty), and
# replaced by private scratch directories (writable and empty) besides the hub's HOME.
SYSTEM_HIDDEN = ("/home", "/root", "/run")
SYSTEM_SCRATCH = ("/tmp", "/var/tmp")


def expand(path: str, hub_env: Mapping[str, str] | None = None) -> str | None:
    """A template path made absolute (``~``: the hub's HOME; ``$NAME``: the hub's variable), or None
    when it names a variable that is not set. Not resolved: symlinks are the mount's business."""
    env: Mapping[str, str] = os.environ if hub_env is None else hub_env
    keep_slash = path.endswith("/")
    if path.startswith("$"):
        name, _, rest = path[1:].partition("/")
        if not env.get(name):
            return None
        path = env[name].rstrip("/") + ("/" + rest if rest else "")
    elif path == "~" or path.startswith("~/"):
        path = env.get("HOME", str(Path.home())).rstrip("/") + path[1:]
    if not path.startswith("/"):
        return None
    normal = os.path.normpath(path)
    return normal + "/" if keep_slash and normal != "/" else normal


def refused_path(path: str, settings: Settings, *, writable: bool = False) -> str | None:
    """Why a template may not mount ``path`` (None: it may): not absolute, ``~/`` or ``$NAME``; or the
    hub's state directory (database, token), the workspaces root (every project), inside or above them.
    In a checkout that holds the database, its code and venv may be read (never written)."""
    if not (path.startswith(("/", "~/", "$")) or path == "~"):
        return f"'{path}' must be an absolute path, ~/… or $NAME/…"
    if "\x00" in path:
        return "a path cannot hold a NUL character"
    expanded = expand(path)
    if expanded is None:
        return None  # an unset variable: nothing is mounted
    real = Path(os.path.realpath(expanded.rstrip("/") or "/"))
    # a checkout: its code and venv may be mounted, not what holds the database
    if not writable and state_holds_code(settings):
        database = settings.database_path.resolve()
        for protected, what in ((database, "the hub's database"), (settings.token_path.resolve(), "the hub's token")):
            if real == protected or real in protected.parents:
                return f"'{path}' would expose {what} ({protected})"
    elif real == settings.state_dir or settings.state_dir in real.parents or real in settings.state_dir.parents:
        return f"'{path}' would expose the hub's state directory (database and token) ({settings.state_dir})"
    for protected, what in ((settings.token_path.resolve(), "the hub's token"),
                            (settings.workspaces_root, "the workspaces root (every project)")):
        if real == protected or protected in real.parents or real in protected.parents:
            return f"'{path}' would expose {what} ({protected})"
    return None


def state_holds_code(settings: Settings) -> bool:
    """Whether the hub's own code or interpreter lives in its state directory (``python orchestra.py`` in
    a checkout, the database beside it). Then the directory cannot be hidden whole: its database files
    and token are masked one by one, and what else it holds (the package, the venv) may be mounted."""
    code = [Path(__file__).resolve().parents[2], Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent]
    state = settings.state_dir
    return any(state == path or state in path.parents for path in code)


def refuse_exposing_template(template: TemplateCreate, settings: Settings, field_prefix: str = "") -> None:
    """422 naming the field when a template (of ``POST /agent-templates``, or ``templates[i].`` of a flow
    file) would mount the hub's state, token or workspaces, or pass on ``ORCHESTRA_*``.
    Blocking (resolves paths): call from a worker thread."""
    for name in template.env_passthrough:  # ORCHESTRA_TOKEN, or a prefix of it
        if name.startswith("ORCHESTRA_") or (name.endswith("*") and "ORCHESTRA_".startswith(name[:-1])):
            raise Unprocessable(f"{field_prefix}env_passthrough cannot pass the hub's own ORCHESTRA_* settings "
                                f"(its token among them): '{name}'", {"field": f"{field_prefix}env_passthrough"})
    for kind in ("writable", "readable") if template.sandbox else ():
        for index, path in enumerate(getattr(template.sandbox, kind)):
            reason = refused_path(path, settings, writable=kind == "writable")
            if reason:
                field = f"{field_prefix}sandbox.{kind}[{index}]"
                raise Unprocessable(f"{field}: {reason}", {"field": field})


def _passes(name: str, patterns: list[str]) -> bool:
    return any(name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])) for pattern in patterns)


@dataclass(frozen=True)
class Sandbox:
    """The hub's sandbox: on (``state == "bwrap"``) or off with the reason."""

    state: str
    hidden: tuple[str, ...] = ()
    scratch: tuple[str, ...] = ()
    masked: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return self.state == "bwrap"

    @staticmethod
    def network(template: Template, node_network: str | None = None) -> str:
        """The node's own network setting, else its template's, else "full"."""
        return node_network or (template.get("sandbox") or {}).get("network") or "full"

    def describe(self, template: Template, node_network: str | None = None) -> str:
        if not self.on:
            return self.state
        network = self.network(template, node_network)
        return "bwrap" if network == "full" else f"bwrap, network {network}"

    def environment(self, template: Template, inherited: dict[str, str],
                    hub_env: dict[str, str] | None = None) -> dict[str, str]:
        """What the agent of ``template`` inherits (the execution's mark is added at spawn). Off: the
        ``inherited`` part of the hub's environment (agents.templates.inherited_environment), as before."""
        if not self.on:
            return inherited | template["env"]
        env: Mapping[str, str] = os.environ if hub_env is None else hub_env
        passthrough = list(template.get("env_passthrough") or [])
        chosen = {name: value for name, value in env.items()
                  if (name in BASE_ENVIRONMENT or name.startswith(BASE_PREFIXES) or _passes(name, passthrough))
                  and not name.startswith("ORCHESTRA_")}
        chosen.setdefault("PATH", os.defpath)
        return chosen | template["env"]

    @staticmethod
    def creates_directories(template: Template) -> bool:
        """Whether :meth:`spec_for` may create directories (a writable path ending in ``/``): only then
        is it blocking work for a worker thread; else it is a few string operations."""
        return any(path.endswith("/") for path in ((template.get("sandbox") or {}).get("writable") or []))

    def spec_for(self, template: Template, git_dir: Path | None = None,
                 node_network: str | None = None) -> SandboxSpec | None:
        """The sandbox of one execution of ``template`` (its worktree's git directory writable too).
        Blocking (creates missing state directories): call from a worker thread."""
        if not self.on:
            return None
        declared: TemplateSandbox = template.get("sandbox") or {}
        writable = []
        for path in declared.get("writable", []):
            expanded = expand(path)
            if expanded is None:
                continue
            if expanded.endswith("/"):
                try:
                    os.makedirs(expanded, exist_ok=True)
                except OSError as exc:
                    log.warning("cannot create %s for agent template %s: %s", expanded, template["id"], exc)
            writable.append(expanded.rstrip("/"))
        if git_dir is not None:
            writable.append(str(git_dir))
        readable = [p.rstrip("/") for p in (expand(path) for path in declared.get("readable", [])) if p]
        return SandboxSpec(self.hidden, self.scratch, self.masked, tuple(writable), tuple(readable),
                           "none" if self.network(template, node_network) == "none" else "full")


def probe(bwrap_name: str = bwrap.BWRAP) -> str | None:
    """Why bwrap cannot sandbox an agent here (None: it can): a tiny sandbox like an agent's, in a
    session of its own; its init, orphaned to a subreaper hub for a moment, is waited for.
    Blocking: call from a worker thread."""
    path = shutil.which(bwrap_name)
    if path is None:
        return f"{bwrap_name} not found (install the bubblewrap package)"
    true = shutil.which("true") or "/bin/true"
    argv = sandboxed_argv([true], "/", {"PATH": os.defpath}, SandboxSpec(("/run",), ("/tmp",), bwrap=path))
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return f"{bwrap_name} does not work here: {exc}"
    try:
        _, stderr = process.communicate(timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    reap_orphaned_members(process.pid)
    if process.returncode != 0:
        why = stderr.decode(errors="replace").strip().splitlines()
        return f"{bwrap_name} does not work here: {why[-1] if why else f'exit code {process.returncode}'}"
    return None


def hidden_paths(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """What agents cannot see: (read-only and empty directories, writable and empty directories,
    files replaced by an empty one). The state directory is hidden whole, unless the hub's own code or
    interpreter lives in it (``python orchestra.py`` in a checkout, the database beside it): then its
    database files and token are masked one by one, and agents (the demo agent among them) still find
    the code."""
    home = os.environ.get("HOME") or str(Path.home())
    database = str(settings.database_path.resolve())
    masked = (database, database + "-wal", database + "-shm", database + "-journal", str(settings.token_path.resolve()))
    hidden = {str(settings.workspaces_root), *SYSTEM_HIDDEN} | (set() if state_holds_code(settings)
                                                                 else {str(settings.state_dir)})
    # HOME stays scratch even when it is the state directory (systemd: /var/lib/orchestra): what is
    # there is hidden all the same, and CLIs can write beside their state.
    scratch = {home, os.path.realpath(home), *SYSTEM_SCRATCH}
    return tuple(sorted(hidden)), tuple(sorted(scratch)), masked


async def open_sandbox(settings: Settings) -> Sandbox:
    """Decide once, off the event loop, whether agents run in bwrap; say so in one line when not."""
    if settings.sandbox == "off":
        sandbox = Sandbox("off: ORCHESTRA_SANDBOX=off")
    else:
        reason = await trio.to_thread.run_sync(probe)
        if reason is not None and settings.sandbox == "bwrap":
            raise ConfigError(f"ORCHESTRA_SANDBOX=bwrap: {reason}")
        sandbox = Sandbox(f"off: {reason}") if reason else Sandbox("bwrap", *hidden_paths(settings))
    if not sandbox.on:
        log.warning("agents run without a sandbox (%s): each can read and write what the hub can",
                    sandbox.state.removeprefix("off: "))
    return sandbox
