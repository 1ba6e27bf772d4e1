"""How a run's work landed, in one line (a land node's result, the terminal's ``status`` and ``land``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def landed_text(landed: Mapping[str, Any]) -> str:
    """Merged commit, pushed branch, or the pull request's (GitLab: merge request's) number and link."""
    commit = str(landed.get("commit") or "")[:12]
    if landed["mode"] == "merge":
        return f"merged into {landed.get('base')} at {commit}"
    if landed["mode"] == "push":
        return f"pushed {landed.get('branch')} at {commit}"
    return f"{request_label(landed)} {landed.get('url')} ({landed.get('branch')} at {commit})"


def request_label(landed: Mapping[str, Any]) -> str:
    """``pull request #7``, or ``merge request !7`` on GitLab (its own name and sign for them)."""
    if landed.get("forge") == "gitlab":
        return f"merge request !{landed.get('number')}"
    return f"pull request #{landed.get('number')}"
