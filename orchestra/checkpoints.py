"""Git checkpoints: each execution in a project whose workspace is a git repository works in a
``git worktree`` of its own, starting from its upstream nodes' merged commits; what it leaves behind
is committed on a branch ``orchestra/<run>/<node>``. The user's own checkout, index and uncommitted
work are never touched: every command here runs in a worktree of ours or only reads.

All git work of one repository is serialized by a lock (worktree and ref updates share files).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import trio

IDENTITY = ["-c", "user.name=Orchestra", "-c", "user.email=orchestra@localhost", "-c", "commit.gpgsign=false"]
GIT_TIMEOUT_S = 120


class GitError(Exception):
    pass


class MergeConflict(GitError):
    def __init__(self, files: list[str], commit: str) -> None:
        super().__init__(f"merge conflict in {', '.join(files)} while merging upstream commit {commit[:12]}")
        self.files = files


@dataclass
class Checkout:
    """A worktree prepared for one execution."""

    repo: Path
    path: Path
    base_commit: str
    branch: str


@dataclass
class Repository:
    path: Path
    worktrees_root: Path
    lock: trio.Lock = field(default_factory=trio.Lock)


async def git(cwd: Path, *args: str, check: bool = True) -> str:
    with trio.fail_after(GIT_TIMEOUT_S):
        result = await trio.run_process(
            ["git", *IDENTITY, *args], cwd=str(cwd), capture_stdout=True, capture_stderr=True, check=False,
            stdin=subprocess.DEVNULL,
        )
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode(errors="replace")


async def find_repository(workspace: Path, worktrees_root: Path) -> Repository | None:
    """The repository whose top level is the workspace itself (a subdirectory does not count)."""
    if not await trio.Path(workspace, ".git").exists():
        return None
    top = (await git(workspace, "rev-parse", "--show-toplevel", check=False)).strip()
    if not top or not await trio.to_thread.run_sync(_same_path, Path(top), workspace):
        return None
    if not (await git(workspace, "rev-parse", "--verify", "-q", "HEAD", check=False)).strip():
        return None  # an empty repository has nothing to start from
    return Repository(workspace, worktrees_root)


def _same_path(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


async def prepare(repo: Repository, path: Path, branch: str, upstream_commits: list[str]) -> Checkout:
    """A detached worktree at ``path``, at the merge of the upstream commits (HEAD without upstreams)."""
    async with repo.lock:
        await trio.Path(repo.worktrees_root).mkdir(parents=True, exist_ok=True)
        distinct = list(dict.fromkeys(upstream_commits))
        start = distinct[0] if distinct else (await git(repo.path, "rev-parse", "HEAD")).strip()
        await git(repo.path, "worktree", "add", "--detach", str(path), start)
        for other in distinct[1:]:
            merged = await git(path, "merge", "--no-edit", "-m", f"orchestra: merge upstream {other[:12]}", other,
                               check=False)
            conflicted = (await git(path, "diff", "--name-only", "--diff-filter=U")).split()
            if conflicted:
                await git(path, "merge", "--abort", check=False)
                await _remove(repo, path)
                raise MergeConflict(conflicted, other)
            if "fatal:" in merged:
                await _remove(repo, path)
                raise GitError(merged.strip())
        base = (await git(path, "rev-parse", "HEAD")).strip()
    return Checkout(repo.path, path, base, branch)


async def record(repo: Repository, checkout: Checkout, message: str) -> str:
    """Commit what the agent left on the execution's branch; return the commit (the base if nothing
    changed). The worktree is removed only once its work is safely on a branch."""
    async with repo.lock:
        await git(checkout.path, "add", "-A")
        changed = bool((await git(checkout.path, "status", "--porcelain")).strip())
        commit = checkout.base_commit
        if changed:
            await git(checkout.path, "commit", "-q", "--no-verify", "-m", message)
            commit = (await git(checkout.path, "rev-parse", "HEAD")).strip()
            await git(repo.path, "branch", "-f", checkout.branch, commit)
        await _remove(repo, checkout.path)
    return commit


async def _remove(repo: Repository, path: Path) -> None:
    await git(repo.path, "worktree", "remove", "--force", str(path), check=False)
    await git(repo.path, "worktree", "prune", check=False)


async def diff(repo_path: Path, base: str, commit: str) -> dict[str, object]:
    """The unified diff of an execution's changes, and a per-file summary."""
    patch = await git(repo_path, "diff", "--no-color", base, commit)
    files = []
    for line in (await git(repo_path, "diff", "--numstat", base, commit)).splitlines():
        added, removed, name = line.split("\t", 2)
        files.append({"path": name, "added": None if added == "-" else int(added),
                      "removed": None if removed == "-" else int(removed)})
    return {"base_commit": base, "commit": commit, "files": files, "diff": patch}
