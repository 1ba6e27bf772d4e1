"""Landing a run's result on git: merged into the workspace's base branch, or pushed to a remote.

What it never does: force-push, move a base branch anywhere but forward (a fast-forward, or a merge
commit whose first parent is the base's tip), touch a base checkout with uncommitted changes. A second
landing of the same result changes nothing (``changed`` is False): the base already contains it, or the
remote branch already points at it.

Errors::

    GitError                       (git_checkpoints) git failed: its message, credentials redacted
     ├── LandingRefused            the base or remote cannot take the work as it is (dirty, moved)
     │    └── LandingMisconfigured the settings name what is not there (remote, base branch) or is no branch name
     └── MergeConflict             (git_checkpoints) the result and the base's tip edit the same lines
          └── BaseConflict         ... with each conflicted file's text, markers included, for a repair turn

The merge is computed without a checkout (``git merge-tree --write-tree``, git >= 2.38), so a conflict
leaves nothing behind; only a clean result moves the base.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestra.workspaces.git_checkpoints import GitError, MergeConflict, Repository, git, run_git

DEFAULT_REMOTE = "origin"
MARKERS_MAX_CHARS = 6_000  # of one conflicted file's text, put in a repair prompt


class LandingRefused(GitError):
    """The base branch or the remote cannot take the work as it is; nothing was changed."""


class LandingMisconfigured(LandingRefused):
    """The landing settings name a remote or base branch the repository does not have, or a bad branch name."""


class BaseConflict(MergeConflict):
    """Merging the result into the base's tip conflicts: which files, and their text with the markers."""

    def __init__(self, files: list[str], commit: str, tip: str, markers: dict[str, str]) -> None:
        super().__init__(files, commit)
        self.args = (f"merging {commit[:12]} into {tip[:12]} conflicts in {', '.join(files)}",)
        self.tip = tip
        self.markers = markers


@dataclass(frozen=True)
class Merged:
    commit: str  # the base's tip after landing
    changed: bool  # False: the base already contained the result


@dataclass(frozen=True)
class Pushed:
    branch: str
    commit: str
    changed: bool  # False: the remote branch already pointed at the commit


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without credentials: each secret, and the user:password part of any URL in it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    out, rest = [], text
    while (scheme := rest.find("://")) != -1:  # a scan, not a regex: linear in the text's length
        start = scheme + 3
        end = start
        while end < len(rest) and not rest[end].isspace() and rest[end] not in "/@'\"":
            end += 1
        if end < len(rest) and rest[end] == "@":
            out.append(rest[:start] + "***")
            rest = rest[end:]
        else:
            out.append(rest[:start])
            rest = rest[start:]
    return "".join(out) + rest


async def current_branch(repo_path: Path) -> str | None:
    """The branch checked out in the workspace, None when its HEAD is detached."""
    ref = (await git(repo_path, "symbolic-ref", "-q", "HEAD", check=False)).strip()
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


async def check_branch_name(repo_path: Path, name: str) -> None:
    result = await run_git(repo_path, "check-ref-format", "--branch", name)
    if result.returncode != 0 or name.startswith("-"):
        raise LandingMisconfigured(f"'{name}' is not a valid branch name")


async def branch_tip(repo_path: Path, branch: str) -> str:
    tip = (await git(repo_path, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)).strip()
    if not tip:
        raise LandingMisconfigured(f"the base branch '{branch}' does not exist in {repo_path}")
    return tip


async def is_ancestor(repo_path: Path, older: str, newer: str) -> bool:
    return (await run_git(repo_path, "merge-base", "--is-ancestor", older, newer)).returncode == 0


async def base_checkout(repo: Repository, branch: str) -> Path | None:
    """The working tree in which ``branch`` is checked out, if any (the workspace, usually)."""
    listing = await git(repo.path, "worktree", "list", "--porcelain")
    path: Path | None = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return path
    return None


async def refuse_dirty(checkout: Path, branch: str) -> None:
    """A base checkout with uncommitted changes to tracked files is not landed on: the person is working there."""
    status = await git(checkout, "status", "--porcelain", "--untracked-files=no")
    files = [line[3:] for line in status.splitlines() if line.strip()]
    if files:
        shown = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
        raise LandingRefused(f"the base branch '{branch}' is checked out in {checkout} with uncommitted changes "
                             f"({shown}); commit or stash them, then land again")


async def merge_commit(repo_path: Path, tip: str, result: str, message: str) -> str:
    """A merge commit of ``result`` into ``tip`` (first parent), made without a checkout; BaseConflict
    when they conflict."""
    merged = await run_git(repo_path, "merge-tree", "--write-tree", "--name-only", "--no-messages", tip, result)
    lines = merged.stdout.decode(errors="replace").splitlines()
    if merged.returncode == 1 and lines:
        tree, files = lines[0], list(dict.fromkeys(name for name in lines[1:] if name))
        markers = {}
        for name in files:
            shown = await run_git(repo_path, "show", f"{tree}:{name}")
            markers[name] = shown.stdout.decode(errors="replace")[:MARKERS_MAX_CHARS] if shown.returncode == 0 else ""
        raise BaseConflict(files, result, tip, markers)
    if merged.returncode != 0 or not lines:
        text = (merged.stderr or merged.stdout).decode(errors="replace").strip()
        raise GitError(f"git merge-tree {tip[:12]} {result[:12]}: {text or merged.returncode}")
    tree = lines[0]
    return (await git(repo_path, "commit-tree", tree, "-p", tip, "-p", result, "-m", message)).strip()


async def merge_into_base(repo: Repository, result: str, base: str, message: str) -> Merged:
    """Land ``result`` on branch ``base``: nothing when the base contains it, else a fast-forward when
    possible, else a merge commit. A checkout of the base is moved with it (``merge --ff-only``); one with
    uncommitted changes is refused before anything changes."""
    async with repo.lock:
        tip = await branch_tip(repo.path, base)
        if await is_ancestor(repo.path, result, tip):
            return Merged(tip, changed=False)
        checkout = await base_checkout(repo, base)
        if checkout is not None:
            await refuse_dirty(checkout, base)
        new = result if await is_ancestor(repo.path, tip, result) else await merge_commit(
            repo.path, tip, result, message)
        if checkout is not None:
            moved = await run_git(checkout, "merge", "--ff-only", "-q", new)
            if moved.returncode != 0:
                text = (moved.stderr or moved.stdout).decode(errors="replace").strip()
                raise LandingRefused(f"the base branch '{base}' could not be moved in {checkout}: {text}")
        else:  # compare and swap: a base that moved meanwhile is refused, never overwritten
            swapped = await run_git(repo.path, "update-ref", f"refs/heads/{base}", new, tip)
            if swapped.returncode != 0:
                raise LandingRefused(f"the base branch '{base}' moved while landing; land again")
    return Merged(new, changed=True)


async def remote_url(repo_path: Path, remote: str) -> str:
    url = await run_git(repo_path, "remote", "get-url", remote)
    if url.returncode != 0:
        raise LandingMisconfigured(f"the workspace's repository has no remote named '{remote}'")
    return url.stdout.decode(errors="replace").strip()


async def push(repo: Repository, commit: str, remote: str, branch: str, secrets: tuple[str, ...] = ()) -> Pushed:
    """Push ``commit`` to ``remote``'s ``branch``, never forced: a remote branch that does not lead to the
    commit is git's refusal, as its message."""
    await check_branch_name(repo.path, branch)
    await remote_url(repo.path, remote)
    listed = await run_git(repo.path, "ls-remote", "--heads", remote, f"refs/heads/{branch}")
    if listed.returncode != 0:
        raise GitError(redact(f"git ls-remote {remote}: {_text(listed.stderr or listed.stdout)}", secrets))
    current = listed.stdout.decode(errors="replace").split()
    if current and current[0] == commit:
        return Pushed(branch, commit, changed=False)
    pushed = await run_git(repo.path, "push", "--porcelain", remote, f"{commit}:refs/heads/{branch}")
    if pushed.returncode != 0:
        raise GitError(redact(f"git push {remote} {branch}: {_text(pushed.stderr or pushed.stdout)}", secrets))
    return Pushed(branch, commit, changed=True)


def _text(data: bytes) -> str:
    return data.decode(errors="replace").strip()


async def start_merge(path: Path, other: str) -> list[str]:
    """Merge ``other`` into the worktree at ``path``, leaving conflicts in place (markers in the files) for
    an agent to resolve; the files in conflict ([] when it merged cleanly: committed then)."""
    result = await run_git(path, "merge", "--no-ff", "--no-edit", "-m", f"orchestra: merge {other[:12]}", other)
    if result.returncode == 0:
        return []
    conflicted = (await git(path, "diff", "--name-only", "--diff-filter=U")).split()
    if not conflicted:
        raise GitError(f"git merge {other[:12]}: {_text(result.stderr or result.stdout)}")
    return conflicted


async def unresolved(repo_path: Path, commit: str, files: list[str]) -> list[str]:
    """Which of ``files`` still hold conflict markers at ``commit``."""
    if not files:
        return []
    found = await run_git(repo_path, "grep", "-l", "-e", "^<<<<<<< ", "-e", "^>>>>>>> ", commit, "--", *files)
    return sorted({line.partition(":")[2] for line in found.stdout.decode(errors="replace").splitlines() if line})
