"""How long a landing takes, step by step, on this machine (real git, a bare file:// remote, the GitHub
stand-in on loopback): what a land node adds to a run once its upstream nodes are done. Wall time per
call, p50/p99/max over N repetitions. Not part of ``benchmarks.run``.

    .venv/bin/python -m benchmarks.landing [N]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

import trio

from orchestra.workspaces import landing, pull_requests
from orchestra.workspaces.git_checkpoints import Repository

from .stats import latency_summary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from forge_server import GitHubServer  # the tests' stand-in


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def work(repo: Path, start: str, name: str) -> str:
    """A commit on top of ``start`` adding ``name`` (made with plumbing: no checkout moves)."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=name, check=True,
                          capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "read-tree", start], cwd=repo, check=True, env={"GIT_INDEX_FILE": str(repo / "idx")})
    subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}"], cwd=repo, check=True,
                   env={"GIT_INDEX_FILE": str(repo / "idx")})
    tree = subprocess.run(["git", "write-tree"], cwd=repo, check=True, capture_output=True, text=True,
                          env={"GIT_INDEX_FILE": str(repo / "idx")}).stdout.strip()
    return git(repo, "commit-tree", tree, "-p", start, "-m", name)


async def timed(samples: list[float], step: Awaitable[object]) -> None:
    """Time one step (a coroutine not started yet)."""
    started = time.perf_counter()
    await step
    samples.append(time.perf_counter() - started)


async def main(n: int) -> dict[str, dict[str, float]]:
    results: dict[str, list[float]] = {"merge_fast_forward": [], "merge_commit": [], "merge_again": [],
                                       "push": [], "push_again": [], "pull_request_open": [],
                                       "pull_request_update": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo, bare = root / "repo", root / "acme" / "widgets.git"
        repo.mkdir()
        bare.mkdir(parents=True)
        git(bare, "init", "-q", "--bare")
        git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("base\n")
        git(repo, "add", "README.md")
        git(repo, "commit", "-q", "-m", "base")
        git(repo, "remote", "add", "origin", f"file://{bare}")
        repository = Repository(repo, root / "worktrees")
        async with trio.open_nursery() as nursery:
            server: GitHubServer = await nursery.start(GitHubServer().serve)
            for i in range(n):
                tip = git(repo, "rev-parse", "main")
                result = work(repo, tip, f"ff-{i}.txt")
                await timed(results["merge_fast_forward"],
                            landing.merge_into_base(repository, result, "main", "land"))
                await timed(results["merge_again"],
                            landing.merge_into_base(repository, result, "main", "land"))
                side = work(repo, result, f"side-{i}.txt")
                git(repo, "merge", "-q", "--ff-only", work(repo, result, f"moved-{i}.txt"))
                await timed(results["merge_commit"],
                            landing.merge_into_base(repository, side, "main", "land"))
                await timed(results["push"], landing.push(repository, side, "origin", f"run/{i}"))
                await timed(results["push_again"], landing.push(repository, side, "origin", f"run/{i}"))
                for key in ("pull_request_open", "pull_request_update"):
                    await timed(results[key], pull_requests.open_or_update(
                        pull_requests.Access("github", server.url, server.token), "acme/widgets", f"run/{i}", "main",
                        "title", "body"))
            nursery.cancel_scope.cancel()
    return {key: latency_summary(values) for key, values in results.items()}


if __name__ == "__main__":
    print(json.dumps(trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=1))
