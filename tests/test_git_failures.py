"""Git checkpoints when git fails or does not finish: every such failure is a GitError, the worktree of a
checkout that could not be prepared is removed, and no git process (nor a hook it ran) is left behind.

Real repositories under tmp_path; a git that hangs is a real git running a repository hook that sleeps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio
from signalling import Fifo, leftovers

from orchestra.workspaces import git_checkpoints
from orchestra.workspaces.git_checkpoints import GitError, MergeConflict, Repository

WAIT_S = 30


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


def write_blob(repo: Path, text: str) -> str:
    return subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text, check=True,
                          capture_output=True, text=True).stdout.strip()


def commit_file(repo: Path, name: str, text: str, parent: str) -> str:
    """A commit on top of ``parent`` adding one file, made without touching the checkout."""
    blob = write_blob(repo, text)
    listing = git(repo, "ls-tree", parent) + f"\n100644 blob {blob}\t{name}\n"
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=listing, check=True, capture_output=True,
                          text=True).stdout.strip()
    return git(repo, "commit-tree", tree, "-p", parent, "-m", f"add {name}")


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("base\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "base")
    return Repository(path, tmp_path / "worktrees")


def hang_in_hook(repo: Repository, hook: str, tmp_path: Path, announce: Fifo | None = None) -> str:
    """Make git run a hook that never ends (it says so on ``announce`` first); return the marker its
    process carries in its command line."""
    marker = str(tmp_path / "hook-marker")
    script = repo.path / ".git" / "hooks" / hook
    script.write_text("#!/bin/sh\n" + (f"echo started > '{announce.path}'\n" if announce else "")
                      + f"exec '{sys.executable}' -c 'import time; time.sleep(3600)' '{marker}'\n")
    script.chmod(0o755)
    return marker


def worktrees(repo: Repository) -> list[str]:
    return [line.split()[1] for line in git(repo.path, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


@pytest.mark.parametrize("upstream", ["unrelated history", "blob"])
async def test_a_merge_that_fails_without_a_conflict_is_a_git_error(repo: Repository, tmp_path: Path,
                                                                     upstream: str) -> None:
    head = git(repo.path, "rev-parse", "HEAD")
    first = commit_file(repo.path, "a.txt", "a\n", head)
    if upstream == "blob":  # an upstream "commit" that is not a commit object
        other = write_blob(repo.path, "not a commit")
    else:  # a root commit of its own: git refuses to merge unrelated histories
        other = git(repo.path, "commit-tree", git(repo.path, "rev-parse", "HEAD^{tree}"), "-m", "orphan")
    path = tmp_path / "worktrees" / "fan-in"
    with trio.fail_after(WAIT_S), pytest.raises(GitError) as failure:
        await git_checkpoints.prepare(repo, path, "orchestra/r/fan-in", [first, other])
    assert not isinstance(failure.value, MergeConflict)
    assert str(failure.value).startswith(f"git merge {other[:12]}: ")
    if upstream == "unrelated history":
        assert "refusing to merge unrelated histories" in str(failure.value)
    assert not path.exists()
    assert worktrees(repo) == [str(repo.path)]


async def test_a_git_that_does_not_finish_is_a_git_error_and_leaves_no_process(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(git_checkpoints, "GIT_TIMEOUT_S", 1)
    marker = hang_in_hook(repo, "post-commit", tmp_path)  # runs even with commit --no-verify
    with trio.fail_after(WAIT_S):
        checkout = await git_checkpoints.prepare(repo, tmp_path / "worktrees" / "e1", "orchestra/r/n", [])
        (checkout.path / "work.txt").write_text("the agent's work\n")
        with pytest.raises(GitError) as failure:
            await git_checkpoints.record(repo, checkout, "orchestra: n")
    assert "did not finish within 1 s" in str(failure.value)
    assert await leftovers(marker) == []
    assert await leftovers(str(tmp_path / "worktrees")) == []  # nor git itself


async def test_record_gives_up_within_its_budget_and_keeps_the_work(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller bounds its cleanup (execution.py: SHIELDED_CLEANUP_S): record must end before that, with a
    GitError, rather than be cut short silently. The work is not on a branch, so its worktree stays."""
    monkeypatch.setattr(git_checkpoints, "RECORD_BUDGET_S", 1)  # GIT_TIMEOUT_S stays far longer
    marker = hang_in_hook(repo, "post-commit", tmp_path)
    checkout = await git_checkpoints.prepare(repo, tmp_path / "worktrees" / "e1", "orchestra/r/n", [])
    (checkout.path / "work.txt").write_text("the agent's work\n")
    with trio.fail_after(1 + 2 * git_checkpoints.GIT_GRACE_S + 5):
        with pytest.raises(GitError) as failure:
            await git_checkpoints.record(repo, checkout, "orchestra: n")
    assert str(failure.value) == f"git did not finish recording within 1 s; the work is left in {checkout.path}"
    assert (checkout.path / "work.txt").read_text() == "the agent's work\n"
    assert await leftovers(marker) == []


async def test_a_timed_out_merge_removes_the_worktree_and_leaves_no_process(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(git_checkpoints, "GIT_TIMEOUT_S", 1)
    head = git(repo.path, "rev-parse", "HEAD")
    upstream = [commit_file(repo.path, "a.txt", "a\n", head), commit_file(repo.path, "b.txt", "b\n", head)]
    marker = hang_in_hook(repo, "post-merge", tmp_path)
    path = tmp_path / "worktrees" / "fan-in"
    with trio.fail_after(WAIT_S), pytest.raises(GitError) as failure:
        await git_checkpoints.prepare(repo, path, "orchestra/r/fan-in", upstream)
    assert "did not finish within 1 s" in str(failure.value)
    assert not path.exists()
    assert worktrees(repo) == [str(repo.path)]
    assert await leftovers(marker) == []


async def test_cancelling_prepare_removes_the_worktree_and_leaves_no_process(
    repo: Repository, tmp_path: Path
) -> None:
    head = git(repo.path, "rev-parse", "HEAD")
    upstream = [commit_file(repo.path, "a.txt", "a\n", head), commit_file(repo.path, "b.txt", "b\n", head)]
    started = Fifo(tmp_path / "started")
    marker = hang_in_hook(repo, "post-merge", tmp_path, announce=started)
    path = tmp_path / "worktrees" / "fan-in"
    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(git_checkpoints.prepare, repo, path, "orchestra/r/fan-in", upstream)
            assert await started.line() == "started"  # git is merging, in the hook
            nursery.cancel_scope.cancel()
    await started.aclose()
    assert not path.exists()
    assert worktrees(repo) == [str(repo.path)]
    assert await leftovers(marker) == []


async def test_a_git_that_cannot_start_is_a_git_error(repo: Repository, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    head = git(repo.path, "rev-parse", "HEAD")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with trio.fail_after(WAIT_S), pytest.raises(GitError, match="git: cannot start"):
        await git_checkpoints.diff(repo.path, head, head)
