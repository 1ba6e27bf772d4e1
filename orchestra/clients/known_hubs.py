"""Known hubs: the hubs a user's client commands can talk to, saved by name in
``$XDG_CONFIG_HOME/orchestra/hubs.toml`` (``~/.config/orchestra/hubs.toml`` when the variable is unset
or not absolute), mode 0600, and which hub a client command uses.

The file, written by ``orchestra connect`` and ``orchestra token --save NAME``::

    [hubs.vm]
    url = "http://localhost:8000"
    token = "…"
    ssh = "alice@vm"          # how `orchestra connect` reached it (absent for a hub saved on its machine)

Which hub a command uses (:func:`resolve`): ``--hub NAME|URL``, else ``ORCHESTRA_URL``, else the local
hub of this machine when its token is at hand (``ORCHESTRA_TOKEN`` or the token file beside the
database; its URL from the URL file the hub writes there, :mod:`orchestra.core.local_hub`), else the only
saved hub. The token: ``--token``, else ``ORCHESTRA_TOKEN``, else the one in a login link
(``http://…/ui/#token=…``, as ``orchestra url`` prints it), else the saved hub's, else (for the local hub)
the token file. Nothing here creates a token.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import tomli_w

from orchestra.core import local_hub
from orchestra.core.settings import Settings

LOCAL_HOSTS = local_hub.LOOPBACK_HOSTS


class HubNotFound(Exception):
    """No hub, or no token for it: the one-line message names the URL or name tried."""


@dataclass(frozen=True)
class SavedHub:
    name: str
    url: str
    token: str
    ssh: str | None = None


def config_dir() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "orchestra"


def hubs_path() -> Path:
    return config_dir() / "hubs.toml"


def load() -> dict[str, SavedHub]:
    """The saved hubs by name ({} when the file does not exist). A broken file: HubNotFound naming it."""
    path = hubs_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise HubNotFound(f"cannot read {path}: {exc}") from None
    hubs: dict[str, SavedHub] = {}
    for name, entry in (data.get("hubs") or {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise HubNotFound(f"{path}: [hubs.{name}] needs url = \"http://…\"")
        ssh = entry.get("ssh")
        hubs[name] = SavedHub(name, entry["url"].rstrip("/"), str(entry.get("token") or ""),
                              ssh if isinstance(ssh, str) else None)
    return hubs


def save(hub: SavedHub) -> Path:
    """Add or replace ``hub`` in the file (created 0600 with its directory 0700); return the path."""
    hubs = load()
    hubs[hub.name] = hub
    path = hubs_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    table = {"hubs": {saved.name: {"url": saved.url, "token": saved.token} | ({"ssh": saved.ssh} if saved.ssh else {})
                      for saved in hubs.values()}}
    text = "# Orchestra's known hubs: written by `orchestra connect` and `orchestra token --save NAME`.\n\n"
    text += tomli_w.dumps(table)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def valid_name(name: str) -> bool:
    return bool(name) and "://" not in name and "/" not in name and len(name) <= 100


def local_url(settings: Settings) -> str:
    """This machine's hub: the URL it wrote beside its database, else the settings' host and port."""
    return local_hub.read(settings).url


def local_token(settings: Settings) -> str | None:
    return local_hub.read(settings).token


def split_link(hub: str) -> tuple[str, str | None]:
    """A hub URL, or a UI login link (``http://host:port/ui/#token=…``): the hub's URL and the link's token."""
    parts = urlsplit(hub)
    token = unquote(parts.fragment.removeprefix("token=")) if parts.fragment.startswith("token=") else None
    path = parts.path
    if path == "/ui" or "/ui/" in path:
        path = path[:path.index("/ui")]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", "")), token or None


@dataclass(frozen=True)
class Resolved:
    url: str
    token: str
    source: str = ""  # for the local hub: which files its URL and token came from


def resolve(hub: str | None, token: str | None, settings: Settings) -> Resolved:
    """The hub a client command talks to and its token (see the module's docstring)."""
    token = token or os.environ.get("ORCHESTRA_TOKEN") or None
    if hub is None:
        hub = os.environ.get("ORCHESTRA_URL") or None
    if hub is not None and "://" not in hub:
        hubs = load()
        if hub not in hubs:
            known = ", ".join(sorted(hubs)) or f"none saved in {hubs_path()}"
            raise HubNotFound(f"no hub named '{hub}' (known: {known}); pass a URL or run `orchestra connect`")
        saved = hubs[hub]
        return _with_token(saved.url, token or saved.token, f"hub '{hub}' in {hubs_path()} has no token")
    if hub is not None:
        url, token_in_link = split_link(hub)
        token = token or token_in_link
        if token is None:
            token = next((h.token for h in load().values() if h.url == url and h.token), None)
        if token is None and url == local_url(settings):
            token = local_token(settings)
        return _with_token(url, token, "pass --token or set ORCHESTRA_TOKEN")
    local = local_hub.read(settings)
    if token or local.token:
        source = local.describe() if not token else f"URL from {local.url_source}, token from ORCHESTRA_TOKEN"
        return Resolved(local.url, token or local.token or "", source)
    hubs = load()
    if len(hubs) == 1:
        saved = next(iter(hubs.values()))
        return _with_token(saved.url, saved.token, f"hub '{saved.name}' in {hubs_path()} has no token")
    where = local.url
    if hubs:
        raise HubNotFound(f"no token for the local hub at {where}, and {len(hubs)} saved hubs: pick one with "
                          f"--hub NAME ({', '.join(sorted(hubs))})")
    raise HubNotFound(f"no token for the local hub at {where} (no ORCHESTRA_TOKEN, no {settings.token_path}) "
                      f"and no saved hub in {hubs_path()}: run `orchestra connect [user@]vm`, pass --hub and "
                      "--token, or run from the hub's directory")


def _with_token(url: str, token: str | None, hint: str) -> Resolved:
    if not token:
        raise HubNotFound(f"no token for the hub at {url}: {hint}")
    return Resolved(url, token)
