"""This machine's hub as its files describe it: the token file and the URL file beside the database.

``serve`` is the only command that creates a token (:func:`orchestra.core.auth.load_or_create_token`)
and it writes the URL it listens on, port included (``orchestra.db.url``), once it is bound. The
operator and client commands (``url``, ``token --save``, a client command's local-hub discovery) read
both files, never create them, and name the file they read, so ``ORCHESTRA_PORT`` need not be set again
in every shell, and running a command in another directory cannot mint a token that then wins over a
saved hub.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestra.core.settings import Settings

LOOPBACK_HOSTS = ("127.0.0.1", "0.0.0.0", "::", "::1", "localhost")


def url_for(host: str, port: int) -> str:
    """The URL a client on this machine uses for a hub bound to ``host``:``port``."""
    host = "127.0.0.1" if host in LOOPBACK_HOSTS else host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def login_link(url: str, token: str) -> str:
    """The UI's login link (``localhost`` for a loopback hub: the name a browser and a tunnel use)."""
    return f"{url.replace('://127.0.0.1:', '://localhost:', 1)}/ui/#token={token}"


def url_path(settings: Settings) -> Path:
    path = settings.database_path.absolute()
    return path.with_name(path.name + ".url")


def write_url(settings: Settings, url: str) -> Path:
    """Called by ``serve`` once bound (blocking: a worker thread). Atomic: a reader sees one URL or none."""
    path = url_path(settings)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(url + "\n")
    os.replace(temporary, path)
    return path


@dataclass(frozen=True)
class LocalHub:
    """What this machine's hub files say: its URL and token, and where each came from (for messages)."""

    url: str
    url_source: str  # "ORCHESTRA_PORT" style, or the URL file's path
    token: str | None
    token_source: str  # "ORCHESTRA_TOKEN", or the token file's path

    def describe(self) -> str:
        return f"URL from {self.url_source}, token from {self.token_source}"


def read(settings: Settings) -> LocalHub:
    """The local hub's URL (the URL file, else the settings' host and port) and token (ORCHESTRA_TOKEN,
    else the token file; None when neither). Never writes anything. Blocking (disk)."""
    path = url_path(settings)
    try:
        url = path.read_text().strip()
    except OSError:
        url = ""
    if url.startswith(("http://", "https://")):
        url_source = str(path)
    else:
        url, url_source = url_for(settings.host, settings.port), "ORCHESTRA_HOST/ORCHESTRA_PORT (no URL file yet)"
    if settings.token:
        return LocalHub(url, url_source, settings.token, "ORCHESTRA_TOKEN")
    try:
        token = settings.token_path.read_text().strip() or None
    except OSError:
        token = None
    return LocalHub(url, url_source, token, str(settings.token_path.absolute()))
