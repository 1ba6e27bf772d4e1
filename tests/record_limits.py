"""Record what the three real agent CLIs print when the model API answers with a usage/rate limit.

    .venv/bin/python tests/record_limits.py [CASE ...]

Starts the stand-in model server (tests/model_server.py) told to answer with each API's real 429,
runs each CLI once in headless JSON mode against it (as the hub's built-in templates do), and writes
``tests/fixtures/agent-transcripts/<cli>-<case>.{jsonl,stderr.txt,meta.json}`` -- stdout byte for byte
except that the working directory and HOME are replaced by ``/home/dev/project`` and ``/home/dev``, as
in the other transcripts. The parsers' tests (tests/test_parsers.py) and the fast hub tests replay
these through tests/fake_agent.py.

Cases: ``limit429`` (an API key's rate limit: Anthropic ``rate_limit_error``, OpenAI
``rate_limit_exceeded``, Gemini's per-minute ``RESOURCE_EXHAUSTED``), ``usage-limit`` (Codex with a
ChatGPT plan's ``usage_limit_reached``; Gemini's daily quota) and ``subscription-limit`` (Claude Code
with a Pro/Max OAuth token: the API's unified rate-limit headers say ``rejected``), and
``midway-limit429`` (the first model call answers with a tool call, which runs; the next one is refused:
the agent had done work, so the hub continues its session). The CLIs' own retries
are off (``CLAUDE_CODE_MAX_RETRIES=0``, Codex ``request_max_retries = 0``, Gemini ``maxAttempts: 1``),
as in tests/test_real_clis.py.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1])]
from model_server import ANTHROPIC, GEMINI, RESPONSES, ModelServer  # noqa: E402
from test_real_clis import CLI_DIR, write_cli_settings  # noqa: E402

OUT = Path(__file__).parent / "fixtures" / "agent-transcripts"
PROMPT = "Create hello.txt containing hi"
RESET_IN_S = 3 * 3600 + 17 * 60

ARGV = {
    "claude": ["claude", "-p", PROMPT, "--output-format", "stream-json", "--verbose",
               "--dangerously-skip-permissions", "--model", "claude-sonnet-4-5"],
    "codex": ["codex", "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
              "-m", "gpt-5", "-C", "{cwd}", PROMPT],
    "gemini": ["gemini", "-p", PROMPT, "--output-format", "stream-json", "--yolo", "--skip-trust",
               "-m", "gemini-2.5-flash"],
}
API = {"claude": ANTHROPIC, "codex": RESPONSES, "gemini": GEMINI}


async def record(cli: str, case: str, within_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home, cwd = root / "home", root / "project"
        cwd.mkdir()
        async with trio.open_nursery() as nursery:
            model = ModelServer()
            await nursery.start(model.serve)
            write_cli_settings(home, home / ".codex", model.url)
            kind = "usage" if case.startswith("usage") else "rate"
            limit = model.limit(API[cli], reset_in_s=RESET_IN_S, kind=kind, skip=1 if "midway" in case else 0)
            env = {"PATH": os.environ["PATH"], "HOME": str(home), "IS_SANDBOX": "1", "TMPDIR": tmp,
                   "NO_PROXY": "127.0.0.1,localhost",
                   "ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": "sk-ant-stand-in",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                   "OPENAI_API_KEY": "sk-stand-in", "CODEX_HOME": str(home / ".codex"),
                   "GOOGLE_GEMINI_BASE_URL": model.url, "GEMINI_API_KEY": "stand-in"}
            env["CLAUDE_CODE_MAX_RETRIES"] = "0"
            if case.startswith("subscription"):  # a Pro/Max account's OAuth token instead of an API key
                del env["ANTHROPIC_API_KEY"]
                env["CLAUDE_CODE_OAUTH_TOKEN"] = "sk-ant-oat01-stand-in"
            argv = [str(CLI_DIR / ARGV[cli][0]), *(a.replace("{cwd}", str(cwd)) for a in ARGV[cli][1:])]
            started = time.monotonic()
            with trio.fail_after(within_s):
                done = await trio.run_process(argv, cwd=cwd, env=env, stdin=b"", capture_stdout=True,
                                              capture_stderr=True, check=False)
            wall = time.monotonic() - started
            nursery.cancel_scope.cancel()

        def clean(data: bytes) -> str:
            text = data.decode(errors="replace")
            return text.replace(str(cwd), "/home/dev/project").replace(str(home), "/home/dev").replace(
                tmp, "/home/dev/tmp").replace(model.url, "http://127.0.0.1:PORT").replace(
                str(CLI_DIR.parents[1]), "/home/dev/agent-clis")

        name = f"{cli}-{case}"
        (OUT / f"{name}.jsonl").write_text(clean(done.stdout))
        (OUT / f"{name}.stderr.txt").write_text(clean(done.stderr))
        meta = {"cli": cli, "case": case, "argv": [ARGV[cli][0], *ARGV[cli][1:]],
                "env": {k: clean(v.encode()) for k, v in env.items() if k != "PATH"},
                "cwd": "/home/dev/project", "exit_code": done.returncode, "wall_s": round(wall, 2),
                "n_requests": len(model.requests), "answers": [r.answer for r in model.requests],
                "limit_resets_at": int(limit.resets_at), "recorded_at": int(time.time())}
        (OUT / f"{name}.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(name, "exit", done.returncode, f"{wall:.1f}s", model.log().replace("\n", "; "))


async def main(cases: list[str]) -> None:
    for cli in ("claude", "codex", "gemini"):
        for case in cases:
            if case.startswith("subscription") and cli != "claude":
                continue
            if case.startswith("usage") and cli == "claude":
                continue
            await record(cli, case, within_s=120)


if __name__ == "__main__":
    trio.run(main, sys.argv[1:] or ["limit429"])
