"""Notification targets as text: ``ORCHESTRA_NOTIFY`` and a project's ``notify`` hold apprise URLs
(``ntfy://topic``, ``slack://…``, ``json://host/path``, …) separated by spaces or commas. Checked when they
are set (a URL apprise does not know is refused then, naming it), delivered by orchestra/runtime/notifications.py.
"""

from __future__ import annotations

import logging
from typing import Any

MAX_TARGETS = 20


def split_targets(text: str | None) -> list[str]:
    """The URLs in ``text``, in order, without duplicates."""
    urls: list[str] = []
    for piece in (text or "").replace(",", " ").split():
        if piece not in urls:
            urls.append(piece)
    return urls


def check_targets(text: str | None) -> str | None:
    """``text`` when every URL in it is one apprise can deliver to; ValueError naming the first that is not.
    (Apprise is imported here, not at start-up: only setting a target pays for it.)"""
    urls = split_targets(text)
    if len(urls) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} notification URLs")
    if not urls:
        return text
    import apprise

    for url in urls:
        if _instantiate(apprise, url) is None:
            shown = url if len(url) <= 40 else url[:37] + "..."
            raise ValueError(f"'{shown.split('://', 1)[0]}://…' is not a notification URL apprise knows "
                             "(see https://github.com/caronc/apprise/wiki)")
    return text


def _instantiate(apprise: Any, url: str) -> Any:
    """Apprise's parse of ``url``, with its logger silenced: it would log a refused URL whole, token and all."""
    apprise_log = logging.getLogger("apprise")
    disabled, apprise_log.disabled = apprise_log.disabled, True
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    finally:
        apprise_log.disabled = disabled


def public_name(url: str) -> str:
    """A target as logs and /health show it: scheme and host, never a token or a password."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split("?", 1)[0]
    return f"{scheme}://{host}" if rest else scheme
