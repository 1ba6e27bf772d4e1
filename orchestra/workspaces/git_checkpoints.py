"""Git checkpoints: each execution in a project whose workspace is a git repository works in a
``git worktree`` of its own, starting from its upstream nodes' merged commits; what it leaves behind
is committed on a branch ``orchestra/<run>/<node>``. The user's own checkout, index and uncommitted
work are never touched: every command here runs in a worktree of ours or only reads.

All git work of one repository is serialized by a lock (worktree and ref updates share files).
Every git failure is a :class:`GitError`: an error exit (git's message), a git that cannot start, one
that does not finish within GIT_TIMEOUT_S. Each git runs in a process group of its own, ended with
whatever it started (hooks, helpers) however the command ends, cancellation included.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import trio

from orchestra.system.process import Completed, run_command

log = logging.getLogger(__name__)

IDENTITY = ["-c", "user.name=Orchestra", "-c", "user.email=orchestra@localhost", "-c", "commit.gpgsign=false"]
# One git command. A git that does not finish is ended, with the hooks and helpers it started (it runs
# in a process group of its own: SIGTERM, GIT_GRACE_S, SIGKILL), and is a GitError.
GIT_TIMEOUT_S: float = 120
GIT_GRACE_S = 2.0
# After git itself exits, how long its output may still drain (a hook's child may hold the pipe).
GIT_DRAIN_S = 2.0
# All of record(), waiting for the repository's lock included. A caller that bounds its cleanup must
# allow RECORD_BUDGET_S + RECORD_OVERRUN_S: at the budget the git running is ended (at most about
# twice GIT_GRACE_S, then record gives up with a GitError).
RECORD_BUDGET_S: float = 45
RECORD_OVERRUN_S = 2 * GIT_GRACE_S + 1
# Removing a worktree that could not be prepared (also when prepare is cancelled: shielded, so bounded).
REMOVE_BUDGET_S: float = 15


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


async def run_git(cwd: Path, *args: str) -> Completed:
    """One git command, however it exits; a git that cannot start or does not finish is a GitError."""
    try:
        return await run_command(["git", *IDENTITY, *args], cwd=str(cwd), env=None, timeout_s=GIT_TIMEOUT_S,
                                 grace_s=GIT_GRACE_S, drain_s=GIT_DRAIN_S)
    except trio.TooSlowError:
        raise GitError(f"git {' '.join(args)} did not finish within {GIT_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise GitError(f"git: cannot start (git {' '.join(args)} in {cwd}): {exc.strerror or exc}") from None


async def git(cwd: Path, *args: str, check: bool = True) -> str:
    """A git command's stdout; with ``check``, a non-zero exit is a GitError carrying git's message."""
    result = await run_git(cwd, *args)
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {_message(result)}")
    return result.stdout.decode(errors="replace")


def _message(result: Completed) -> str:
    text = (result.stderr or result.stdout).decode(errors="replace").strip()
    return text or f"exited with code {result.returncode}"


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
    """A detached worktree at ``path``, at the merge of the upstream commits (HEAD without upstreams).

    Raises GitError (MergeConflict for a conflict) when it cannot be prepared; the worktree it was adding
    is removed then, and when prepare is cancelled."""
    async with repo.lock:
        try:
            await trio.Path(repo.worktrees_root).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GitError(f"cannot create {repo.worktrees_root}: {exc.strerror or exc}") from None
        distinct = list(dict.fromkeys(upstream_commits))
        start = distinct[0] if distinct else (await git(repo.path, "rev-parse", "HEAD")).strip()
        existed = await trio.Path(path).exists()
        added = False
        try:
            await git(repo.path, "worktree", "add", "--detach", str(path), start)
            added = True
            for other in distinct[1:]:
                await _merge(path, other)
            base = (await git(path, "rev-parse", "HEAD")).strip()
        except BaseException:
            if added or not existed:  # never a directory that was there before (a kept worktree)
                await _discard(repo, path)
            raise
    return Checkout(repo.path, path, base, branch)


async def _merge(path: Path, other: str) -> None:
    result = await run_git(path, "merge", "--no-edit", "-m", f"orchestra: merge upstream {other[:12]}", other)
    if result.returncode == 0:
        return
    conflicted = (await git(path, "diff", "--name-only", "--diff-filter=U")).split()
    if conflicted:
        raise MergeConflict(conflicted, other)
    raise GitError(f"git merge {other[:12]}: {_message(result)}")


async def record(repo: Repository, checkout: Checkout, message: str) -> str:
    """Commit what the agent left on the execution's branch; return the commit (the base if nothing
    changed). The worktree is removed only once its work is safely on a branch.

    Bounded: within RECORD_BUDGET_S (+ RECORD_OVERRUN_S to end the git then running) it returns or raises
    GitError, the work then left in the worktree."""
    budget = RECORD_BUDGET_S
    commit: str | None = None
    with trio.move_on_after(budget):
        async with repo.lock:
            try:
                await git(checkout.path, "add", "-A")
                changed = bool((await git(checkout.path, "status", "--porcelain")).strip())
                if changed:
                    await git(checkout.path, "commit", "-q", "--no-verify", "-m", message)
                    done = (await git(checkout.path, "rev-parse", "HEAD")).strip()
                    await git(repo.path, "branch", "-f", checkout.branch, done)
                    commit = done
                else:
                    commit = checkout.base_commit
            except GitError as exc:
                raise GitError(f"{exc}; the work is left in {checkout.path}") from None
            await _remove(repo, checkout.path)
    if commit is None:
        raise GitError(f"git did not finish recording within {budget:g} s; the work is left in {checkout.path}")
    return commit


async def _remove(repo: Repository, path: Path) -> None:
    """Remove a worktree, best effort: a failure is logged, never raised."""
    for args in (("worktree", "remove", "--force", str(path)), ("worktree", "prune")):
        try:
            result = await run_git(repo.path, *args)
        except GitError as exc:
            log.warning("could not remove the worktree %s: %s", path, exc)
            return
        if result.returncode != 0:
            log.warning("could not remove the worktree %s: git %s: %s", path, " ".join(args), _message(result))


async def _discard(repo: Repository, path: Path) -> None:
    """Remove a worktree that could not be prepared, and whatever git left at its path. Shielded (this
    also runs when prepare is cancelled) and so bounded by REMOVE_BUDGET_S."""
    with trio.CancelScope(shield=True, deadline=trio.current_time() + REMOVE_BUDGET_S):
        await _remove(repo, path)
        if await trio.Path(path).exists():
            await trio.to_thread.run_sync(shutil.rmtree, path, True)


async def diff(repo_path: Path, base: str, commit: str) -> dict[str, object]:
    """The unified diff of an execution's changes, and a per-file summary."""
    patch = await git(repo_path, "diff", "--no-color", base, commit)
    files = []
    for line in (await git(repo_path, "diff", "--numstat", base, commit)).splitlines():
        try:
            added, removed, name = line.split("\t", 2)
            files.append({"path": name, "added": None if added == "-" else int(added),
                          "removed": None if removed == "-" else int(removed)})
        except ValueError:
            raise GitError(f"git diff --numstat: unexpected line {line!r}") from None
    return {"base_commit": base, "commit": commit, "files": files, "diff": patch}
