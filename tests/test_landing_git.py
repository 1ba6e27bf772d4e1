"""The git side of landing (orchestra/workspaces/landing.py) on real repositories and a real bare remote:
merge into the base (fast-forward, merge commit, already landed), refusals with nothing changed, push
without force, conflicts with their files and markers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestra.workspaces import landing
from orchestra.workspaces.git_checkpoints import GitError, Repository


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


def commit_file(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def work_branch(repo: Path, name: str, start: str, files: dict[str, str]) -> str:
    """A commit on branch ``name`` from ``start``, made in a scratch worktree (the checkout stays on main)."""
    path = repo.parent / f"wt-{name}"
    git(repo, "worktree", "add", "-q", "-b", name, str(path), start)
    for file, text in files.items():
        (path / file).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"work {name}")
    head = git(path, "rev-parse", "HEAD")
    git(repo, "worktree", "remove", str(path))
    return head


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit_file(path, "story.txt", "one\ntwo\nthree\n", "base")
    return path


def repository(path: Path) -> Repository:
    return Repository(path, path.parent / "worktrees")


async def test_merge_fast_forwards_the_checked_out_base_and_a_second_landing_changes_nothing(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    result = work_branch(repo, "w", base, {"new.txt": "new\n"})
    merged = await landing.merge_into_base(repository(repo), result, "main", "land")
    assert merged == landing.Merged(result, changed=True)
    assert git(repo, "rev-parse", "main") == result
    assert (repo / "new.txt").read_text() == "new\n"  # the checkout moved with its branch
    assert git(repo, "status", "--porcelain") == ""
    again = await landing.merge_into_base(repository(repo), result, "main", "land")
    assert again == landing.Merged(result, changed=False)


async def test_merge_makes_a_merge_commit_when_the_base_moved_without_conflict(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    result = work_branch(repo, "w", base, {"new.txt": "new\n"})
    moved = commit_file(repo, "other.txt", "meanwhile\n", "meanwhile")
    merged = await landing.merge_into_base(repository(repo), result, "main", "orchestra: land run r1")
    assert merged.changed
    assert git(repo, "rev-parse", "main") == merged.commit
    assert git(repo, "log", "-1", "--format=%P", "main").split() == [moved, result]  # base history kept
    assert git(repo, "log", "-1", "--format=%s", "main") == "orchestra: land run r1"
    assert (repo / "new.txt").exists() and (repo / "other.txt").exists()


async def test_merge_into_a_branch_that_is_not_checked_out_moves_only_its_ref(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "release", base)
    result = work_branch(repo, "w", base, {"new.txt": "new\n"})
    await landing.merge_into_base(repository(repo), result, "release", "land")
    assert git(repo, "rev-parse", "release") == result
    assert git(repo, "rev-parse", "main") == base and not (repo / "new.txt").exists()


async def test_a_dirty_base_checkout_is_refused_and_nothing_changes(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    result = work_branch(repo, "w", base, {"new.txt": "new\n"})
    (repo / "story.txt").write_text("a person is editing this\n")
    with pytest.raises(landing.LandingRefused, match=r"uncommitted changes \(story.txt\)"):
        await landing.merge_into_base(repository(repo), result, "main", "land")
    assert git(repo, "rev-parse", "main") == base
    assert (repo / "story.txt").read_text() == "a person is editing this\n"


async def test_a_conflict_names_the_files_and_carries_the_markers_and_changes_nothing(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    result = work_branch(repo, "w", base, {"story.txt": "one\nTWO by the agent\nthree\n"})
    moved = commit_file(repo, "story.txt", "one\ntwo by a person\nthree\n", "person")
    with pytest.raises(landing.BaseConflict) as caught:
        await landing.merge_into_base(repository(repo), result, "main", "land")
    assert caught.value.files == ["story.txt"] and caught.value.tip == moved
    text = caught.value.markers["story.txt"]
    assert "<<<<<<<" in text and "TWO by the agent" in text and "two by a person" in text and ">>>>>>>" in text
    assert git(repo, "rev-parse", "main") == moved and git(repo, "status", "--porcelain") == ""


async def test_a_missing_base_branch_is_refused(repo: Path) -> None:
    with pytest.raises(landing.LandingRefused, match="base branch 'nope' does not exist"):
        await landing.merge_into_base(repository(repo), git(repo, "rev-parse", "HEAD"), "nope", "land")


async def test_push_to_a_bare_remote_never_forces_and_is_idempotent(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    bare.mkdir()
    git(bare, "init", "-q", "--bare")
    git(repo, "remote", "add", "origin", f"file://{bare}")
    base = git(repo, "rev-parse", "HEAD")
    result = work_branch(repo, "w", base, {"new.txt": "new\n"})
    pushed = await landing.push(repository(repo), result, "origin", "orchestra/p/r1")
    assert pushed == landing.Pushed("orchestra/p/r1", result, changed=True)
    assert git(bare, "rev-parse", "refs/heads/orchestra/p/r1") == result
    assert (await landing.push(repository(repo), result, "origin", "orchestra/p/r1")).changed is False
    # another commit that does not lead from the remote's: refused by git, the remote branch unchanged
    other = work_branch(repo, "x", base, {"other.txt": "x\n"})
    with pytest.raises(GitError, match=r"rejected|non-fast-forward|fetch first"):
        await landing.push(repository(repo), other, "origin", "orchestra/p/r1")
    assert git(bare, "rev-parse", "refs/heads/orchestra/p/r1") == result


async def test_push_refuses_a_missing_remote_and_a_bad_branch_name(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(landing.LandingRefused, match="no remote named 'origin'"):
        await landing.push(repository(repo), head, "origin", "orchestra/p/r1")
    with pytest.raises(landing.LandingRefused, match="not a valid branch name"):
        await landing.push(repository(repo), head, "origin", "bad..name")


def test_redact_removes_url_credentials_and_secrets() -> None:
    text = "fatal: unable to access 'https://bob:ghp_secret@github.com/a/b.git/': 403 token ghp_secret"
    assert landing.redact(text, ("ghp_secret",)) == \
        "fatal: unable to access 'https://***@github.com/a/b.git/': 403 token ***"
    assert landing.redact("file:///tmp/x.git and https://github.com/a") == "file:///tmp/x.git and https://github.com/a"
