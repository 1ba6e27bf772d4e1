"""Launch a project from a signed webhook: one HMAC-SHA256 secret per project, checked the way git
hosts sign their deliveries (GitHub's ``X-Hub-Signature-256: sha256=<hex>`` header over the raw body).

The secret is set through the API and kept in the database (an HMAC needs the secret itself, so it
cannot be hashed); the API never shows more of it than its last four characters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import sqlite_utils

from orchestra.core.errors import NotFound
from orchestra.storage import definitions
from orchestra.storage.db import WriteJobContext, fetch_rows

SIGNATURE_HEADER = "X-Hub-Signature-256"
# Where git hosts name the event (GitHub, Gitea/Forgejo, GitLab); the first one present is recorded.
EVENT_HEADERS = ("X-GitHub-Event", "X-Gitea-Event", "X-Gitlab-Event")
_PREFIX = "sha256="


def signature(secret: str, body: bytes) -> str:
    """The header value a sender computes: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """In constant time, so the comparison says nothing about how much of a guess was right."""
    return header is not None and hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())


def _present(row: dict[str, Any]) -> dict[str, Any]:
    secret = row.pop("secret")
    return {"project_id": row["project_id"], "url": f"/hooks/{row['project_id']}", "secret_hint": "…" + secret[-4:],
            "inputs": json.loads(row["inputs"]) if row["inputs"] else {},
            "node_ids": json.loads(row["node_ids"]) if row["node_ids"] else None,
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def _row(db: sqlite_utils.Database, project_id: str) -> dict[str, Any] | None:
    rows = fetch_rows(db, "SELECT * FROM webhooks WHERE project_id = ?", [project_id])
    return rows[0] if rows else None


def get_webhook(db: sqlite_utils.Database, project_id: str) -> dict[str, Any]:
    row = _row(db, project_id)
    if row is None:
        raise NotFound(f"project '{project_id}' has no webhook")
    return _present(row)


def secret_of(db: sqlite_utils.Database, project_id: str) -> tuple[str, dict[str, str], list[str] | None] | None:
    """The secret and what a delivery launches (inputs, node ids); None when the project has no webhook."""
    row = _row(db, project_id)
    if row is None:
        return None
    inputs = json.loads(row["inputs"]) if row["inputs"] else {}
    return row["secret"], inputs, json.loads(row["node_ids"]) if row["node_ids"] else None


def set_webhook(tx: WriteJobContext, project_id: str, secret: str, inputs: dict[str, str],
                node_ids: list[str] | None) -> dict[str, Any]:
    definitions.set_webhook(tx, project_id, secret, inputs, node_ids)
    return get_webhook(tx.db, project_id)
