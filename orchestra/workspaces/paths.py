"""Project workspaces: directories under ORCHESTRA_WORKSPACES that agents run in."""

from __future__ import annotations

from pathlib import Path

from orchestra.core.errors import Unprocessable


def resolve_workspace(root: Path, requested: str | None, project_id: str, *, create: bool = True) -> Path:
    """The absolute workspace for a project; it must stay inside ``root`` once symlinks are followed.
    ``create=False`` (a dry run) checks it and creates nothing.

    Blocking (resolves and creates directories): call it from a worker thread.
    """
    root = root.resolve()
    if "\x00" in (requested or ""):
        raise Unprocessable("workspace must not contain NUL characters", {"field": "workspace"})
    candidate = root / (requested if requested else project_id)
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise Unprocessable(
            f"workspace '{requested}' resolves outside the workspaces root {root}", {"field": "workspace"}
        )
    if resolved == root:
        raise Unprocessable("workspace cannot be the workspaces root itself", {"field": "workspace"})
    if resolved.exists() and not resolved.is_dir():
        raise Unprocessable(f"workspace '{requested}' exists and is not a directory", {"field": "workspace"})
    if create:
        resolved.mkdir(parents=True, exist_ok=True)
    return resolved
