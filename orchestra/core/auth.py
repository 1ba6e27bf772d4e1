"""The API token: taken from ORCHESTRA_TOKEN, else generated once and kept in a 0600 file."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from orchestra.core.settings import Settings


def load_or_create_token(settings: Settings) -> str:
    """Blocking (disk): call it from a worker thread."""
    if settings.token:
        return settings.token
    path = settings.token_path
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    _write_private(path, token + "\n")
    return token


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)


def bearer_matches(header: str | None, token: str) -> bool:
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())


def token_matches(candidate: str | None, token: str) -> bool:
    return candidate is not None and hmac.compare_digest(candidate.encode(), token.encode())
