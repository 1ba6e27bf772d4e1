"""The real agent CLIs -- Claude Code, Codex CLI and Gemini CLI, installed from npm at pinned
versions by ``.ci/install-agent-clis.sh`` -- driven by a real hub through its BUILT-IN templates
against a stand-in model server on loopback (tests/model_server.py): a three-node DAG, a follow-up
turn per CLI, and a 150,000-character prompt that must reach each model whole, each CLI in its
bubblewrap sandbox (ORCHESTRA_TEST_SANDBOX=off runs them without); and each CLI's shell tool running a
hostile script that reaches nothing of the hub in the sandbox, and everything without it.

Skipped, naming what is missing, when the CLIs are not installed. Nothing leaves 127.0.0.1: every
CLI is pointed at the stand-in by its own base-URL setting, with telemetry and update checks off.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import TOKEN
from hubproc import HubProcess, hub_env, hub_process, wait_for_event
from model_server import ANTHROPIC, GEMINI, RESPONSES, WRITTEN_FILE, ModelRequest, ModelServer, describe

from orchestra.runtime.parking import CONTINUE_PROMPT

ROOT = Path(__file__).resolve().parents[1]
#: Where .ci/install-agent-clis.sh puts them; ORCHESTRA_TEST_AGENT_CLIS names another directory.
CLI_DIR = Path(os.environ.get("ORCHESTRA_TEST_AGENT_CLIS") or ROOT / ".ci" / "agent-clis" / "node_modules" / ".bin")
EXECUTABLES = {"claude-code": "claude", "codex": "codex", "gemini": "gemini"}
API = {"claude-code": ANTHROPIC, "codex": RESPONSES, "gemini": GEMINI}
SETTING = {"claude-code": "ORCHESTRA_CLAUDE_BIN", "codex": "ORCHESTRA_CODEX_BIN", "gemini": "ORCHESTRA_GEMINI_BIN"}
#: What the agents may inherit from the hub that could point them elsewhere than the stand-in.
_AGENT_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_", "VERTEX_", "AWS_BEDROCK_")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
RUN_WITHIN_S = 150
NODE_TIMEOUT_S = 120
BIG = 150_000


def installed_clis() -> dict[str, Path]:
    """The three executables, or a skip that says exactly what is missing and how to install it."""
    missing = [str(CLI_DIR / name) for name in EXECUTABLES.values() if not os.access(CLI_DIR / name, os.X_OK)]
    if shutil.which("node") is None:
        missing.append("node (Node.js 20+ on PATH)")
    if missing:
        pytest.skip(f"real agent CLIs not installed: missing {', '.join(missing)}; run `bash "
                    f".ci/install-agent-clis.sh` (npm ci of @anthropic-ai/claude-code, @openai/codex and "
                    f"@google/gemini-cli at the versions pinned in .ci/agent-clis/package.json), or set "
                    f"ORCHESTRA_TEST_AGENT_CLIS to a directory holding claude, codex and gemini")
    return {agent: CLI_DIR / name for agent, name in EXECUTABLES.items()}


@dataclass
class Rig:
    hub: HubProcess
    http: httpx.AsyncClient
    model: ModelServer
    home: Path

    async def post(self, path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        response = await self.http.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()

    async def execution(self, execution_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/executions/{execution_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def events(self, execution_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"/executions/{execution_id}/events", params={"limit": 10_000})
        assert response.status_code == 200, response.text
        return response.json()["events"]

    async def finished(self, project_id: str, launched: dict[str, Any]) -> list[dict[str, Any]]:
        """Wait for the run's ``run.finished`` event, then read each of its executions in full."""
        run_id = launched["run_id"]
        await wait_for_event(self.hub, project_id, lambda e: e["type"] == "run.finished" and e["run_id"] == run_id,
                             within=RUN_WITHIN_S)
        run = (await self.http.get(f"/runs/{run_id}")).json()
        return [await self.execution(e["id"]) for e in run["executions"]]

    def explain(self, executions: list[dict[str, Any]]) -> str:
        """What to look at when a real CLI did not do what the test expects."""
        lines = [f"{e['node_id']} ({e['agent']}): {e['status']} exit={e['exit_code']} error={e['error']!r} "
                 f"result={(e['result_text'] or '')[:200]!r} stderr={(e.get('stderr') or '')[-1500:]!r}"
                 for e in executions]
        return "\n".join([*lines, "model requests:", self.model.log(),
                          f"(request bodies in {self.model.record_dir})", "hub log (tail):",
                          self.hub.log.decode(errors="replace")[-3000:]])


def write_cli_settings(home: Path, codex_home: Path, model_url: str) -> None:
    """The CLIs' own configuration files that point them at the stand-in, as a VM's would."""
    gemini = home / ".gemini"
    gemini.mkdir(parents=True)
    (gemini / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False, "maxAttempts": 1},
    }))
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(
        'model_provider = "stand-in"\n'
        "check_for_update_on_startup = false\n"
        "[analytics]\nenabled = false\n"
        "[model_providers.stand-in]\n"
        'name = "stand-in"\n'
        f'base_url = "{model_url}/v1"\n'
        'env_key = "OPENAI_API_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n")


@pytest.fixture
def clis() -> dict[str, Path]:
    return installed_clis()  # a sync fixture: a skip raised in an async one loses its reason under pytest-trio


def rig_env(tmp_path: Path, model: ModelServer, clis: dict[str, Path],
            sandbox: str | None = None) -> dict[str, str]:
    """The hub's environment: the CLIs' own settings point them at the stand-in, nothing else leaks in."""
    home = tmp_path / "home"
    codex_home = home / ".codex"
    if not home.exists():
        write_cli_settings(home, codex_home, model.url)
    env = {k: v for k, v in hub_env(tmp_path, TOKEN).items()
           if not k.startswith(_AGENT_PREFIXES) and k not in _PROXIES}
    env |= {
        # What the hub passes on to its agents (orchestra/templates.py inherited_environment).
        "HOME": str(home),
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "IS_SANDBOX": "1",  # Claude Code refuses --dangerously-skip-permissions as root without it
        "ANTHROPIC_BASE_URL": model.url,
        "ANTHROPIC_API_KEY": "sk-ant-stand-in",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "OPENAI_API_KEY": "sk-stand-in",
        "CODEX_HOME": str(codex_home),
        "GOOGLE_GEMINI_BASE_URL": model.url,
        "GEMINI_API_KEY": "stand-in",
        "ORCHESTRA_PARK_BACKOFF_S": "2",  # a limit without a reset time (an API key's 429) waits this long
        # Each CLI in its sandbox (bwrap): only its own state directories and keys (README).
        "ORCHESTRA_SANDBOX": sandbox or os.environ.get("ORCHESTRA_TEST_SANDBOX", "bwrap"),
    }
    return env | {SETTING[agent]: str(path) for agent, path in clis.items()}


@pytest.fixture
async def rig(tmp_path: Path, clis: dict[str, Path]) -> AsyncIterator[Rig]:
    async with open_rig(tmp_path, clis, os.environ.get("ORCHESTRA_TEST_SANDBOX", "bwrap")) as opened:
        yield opened


@asynccontextmanager
async def open_rig(tmp_path: Path, clis: dict[str, Path], sandbox: str) -> AsyncIterator[Rig]:
    """A hub (its token also in the file beside the database) whose agents are the real CLIs."""
    async with trio.open_nursery() as nursery:
        model = ModelServer(record_dir=tmp_path / "model-requests")
        await nursery.start(model.serve)
        # The token also in its file beside the database, where an agent would look for it.
        (tmp_path / "orchestra.db.token").write_text(TOKEN + "\n")
        (tmp_path / "orchestra.db.token").chmod(0o600)
        async with hub_process(rig_env(tmp_path, model, clis, sandbox)) as hub, hub.http() as http:
            yield Rig(hub, http, model, tmp_path / "home")
        nursery.cancel_scope.cancel()


def turns(requests: list[ModelRequest]) -> list[ModelRequest]:
    """The agent's own turns (a tool call, a final answer), not side requests (a router's classifier)."""
    return [r for r in requests if r.answer in ("tool", "final")]


def outputs(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The normalized agent events of one kind among an execution's stored events."""
    return [e["output"] for e in events if e["type"] == "execution.output" and e["output"]["kind"] == kind]


async def test_a_dag_of_the_three_real_clis_then_a_follow_up_turn_each(rig: Rig) -> None:
    project = await rig.post("/projects", {"name": "real clis"}, 201)
    pid = project["id"]
    nodes = [
        {"id": "plan", "title": "Plan", "agent": "claude-code", "prompt": "Plan a todo app in one sentence."},
        {"id": "build", "title": "Build", "agent": "codex", "depends_on": ["plan"],
         "prompt": "Build the todo app the plan describes."},
        {"id": "review", "title": "Review", "agent": "gemini", "depends_on": ["build"],
         "prompt": "Review the build and say whether it follows the plan."},
    ]
    for node in nodes:
        await rig.post(f"/projects/{pid}/nodes", node | {"timeout_s": NODE_TIMEOUT_S}, 201)

    executions = await rig.finished(pid, await rig.post("/launch", {"project_id": pid}, 202))
    by_node = {e["node_id"]: e for e in executions}
    assert sorted(by_node) == ["build", "plan", "review"], rig.explain(executions)
    assert all(e["status"] == "succeeded" for e in executions), rig.explain(executions)
    workspace = Path(project["workspace"])

    for node in nodes:
        execution = by_node[node["id"]]
        agent, api = node["agent"], API[node["agent"]]
        assert execution["agent"] == agent
        assert execution["sandbox"] == ("bwrap" if os.environ.get("ORCHESTRA_TEST_SANDBOX", "bwrap") == "bwrap"
                                        else "off: ORCHESTRA_SANDBOX=off")
        # The model saw exactly the prompt the hub stored (upstream results included), and answered it.
        seen = turns(rig.model.of(api))
        assert [r.answer for r in seen] == ["tool", "final"], rig.explain(executions)
        assert all(r.prompt == execution["prompt"] for r in seen), rig.explain(executions)
        assert execution["result_text"] == describe(execution["prompt"]), rig.explain(executions)
        assert execution["session_id"], f"{agent}: no session id recorded"
        assert execution["input_tokens"] and execution["output_tokens"], execution
        # The scripted tool call ran, in the project's workspace, and its events were stored.
        written = (workspace / WRITTEN_FILE[api]).read_text()
        assert written == f"{WRITTEN_FILE[api]} for a prompt of {len(execution['prompt'])} characters\n"
        events = await rig.events(execution["id"])
        kinds = {e["output"]["kind"] for e in events if e["type"] == "execution.output"}
        assert {"system", "text", "tool_use", "tool_result", "usage"} <= kinds, (agent, kinds)
        (call,) = outputs(events, "tool_use")
        assert WRITTEN_FILE[api] in json.dumps(call["input"]), call
        texts = "".join(e["text"] for e in outputs(events, "text"))
        assert describe(execution["prompt"]) in texts

    # Each downstream prompt carries its upstream node's result (the hub appends it).
    assert by_node["plan"]["prompt"] == nodes[0]["prompt"]
    assert by_node["build"]["prompt"].startswith(nodes[1]["prompt"])
    assert by_node["plan"]["result_text"] in by_node["build"]["prompt"]
    assert by_node["build"]["result_text"] in by_node["review"]["prompt"]

    # A follow-up turn for each CLI, all three at once: each resumes its own session.
    before = len(rig.model.requests)
    follow_ups = {node: f"Follow-up for {node}: now add tests." for node in by_node}
    launched = {node: await rig.post(f"/executions/{by_node[node]['id']}/follow-up", {"prompt": prompt}, 202)
                for node, prompt in follow_ups.items()}
    seconds = {node: (await rig.finished(pid, run))[0] for node, run in launched.items()}
    later = rig.model.requests[before:]
    for node, second in seconds.items():
        first, agent = by_node[node], by_node[node]["agent"]
        api = API[agent]
        assert second["status"] == "succeeded", rig.explain([second])
        assert second["parent_execution_id"] == first["id"]
        assert second["prompt"] == follow_ups[node]
        assert first["session_id"] in second["argv"], second["argv"]  # --resume ID / exec resume ID
        assert second["session_id"] == first["session_id"], (agent, first["session_id"], second["session_id"])
        seen = turns([r for r in later if r.api == api])
        assert [r.answer for r in seen] == ["tool", "final"], rig.explain([second])
        # The model saw the follow-up as the latest user turn, with the earlier turn in the history.
        assert all(r.prompt == follow_ups[node] for r in seen), rig.explain([second])
        assert all(first["prompt"] in r.user_texts for r in seen), (agent, [len(t) for t in seen[0].user_texts])
        assert second["result_text"] == describe(follow_ups[node])


def big_prompt(agent: str) -> str:
    """Exactly BIG characters, over 131,072 bytes (more than Linux allows in one argument), with
    multi-byte characters, quotes, backslashes, tabs and newlines, distinct per agent."""
    head = f"BEGIN {agent}: count the lines below and report.\n"
    lines = "".join(f"line {i:06d}\t\"quoted\" \\back\\slash — é ü 中 ✓ the quick brown fox\n" for i in range(3000))
    body = head + lines
    assert len(body) > BIG
    text = body[:BIG - 4] + "\nEND"
    assert len(text) == BIG and len(text.encode()) > 131_072
    return text


async def test_a_150000_character_prompt_reaches_each_real_cli_whole(rig: Rig) -> None:
    project = await rig.post("/projects", {"name": "long prompts"}, 201)
    pid = project["id"]
    prompts = {agent: big_prompt(agent) for agent in EXECUTABLES}
    for agent, prompt in prompts.items():
        await rig.post(f"/projects/{pid}/nodes", {"id": f"long-{agent}", "title": f"Long {agent}", "agent": agent,
                                                  "prompt": prompt, "timeout_s": NODE_TIMEOUT_S}, 201)

    executions = await rig.finished(pid, await rig.post("/launch", {"project_id": pid}, 202))
    assert len(executions) == 3, rig.explain(executions)
    for execution in executions:
        agent = execution["agent"]
        assert execution["status"] == "succeeded", rig.explain(executions)
        assert execution["prompt"] == prompts[agent]
        seen = turns(rig.model.of(API[agent]))
        assert [r.answer for r in seen] == ["tool", "final"], rig.explain(executions)
        for request in seen:
            assert request.prompt is not None and len(request.prompt) == BIG, (agent, request.summary())
            assert request.prompt == prompts[agent], f"{agent}: the model got a different prompt"
        assert execution["result_text"] == describe(prompts[agent])


async def test_each_real_cli_at_a_usage_limit_is_parked_then_goes_on(rig: Rig) -> None:
    """Each API answers the agent's second model call (after its first tool call ran) with its real 429:
    Claude and Codex (an API key's rate limit, no reset time: the hub's back-off) and Gemini (its per-minute
    quota's retryDelay) park; the downstream waits; at resume_at the stand-in lets calls through and each
    node goes on in its own session ("continue where you stopped")."""
    project = await rig.post("/projects", {"name": "limits"}, 201)
    pid = project["id"]
    chain = [("plan", "claude-code"), ("build", "codex"), ("review", "gemini")]
    for index, (node_id, agent) in enumerate(chain):
        await rig.post(f"/projects/{pid}/nodes", {"id": node_id, "title": node_id.title(), "agent": agent,
                                                  "prompt": f"Do the {node_id} step.", "timeout_s": NODE_TIMEOUT_S,
                                                  "depends_on": [chain[index - 1][0]] if index else []}, 201)
    for api in API.values():
        rig.model.limit(api, requests=1, reset_in_s=3, skip=1)

    executions = await rig.finished(pid, await rig.post("/launch", {"project_id": pid}, 202))
    assert [e["status"] for e in executions] == ["succeeded"] * 3, rig.explain(executions)
    ends = {}
    for execution in executions:
        agent, api = execution["agent"], API[execution["agent"]]
        events = await rig.events(execution["id"])
        types = [e["type"] for e in events if e["type"] != "execution.output"]
        assert types == ["execution.queued", "execution.started", "execution.parked", "execution.started",
                         "execution.finished"], (agent, types, rig.explain(executions))
        parked = next(e for e in events if e["type"] == "execution.parked")["execution"]
        assert parked["status"] == "parked" and parked["resume_at"] > parked["started_at"], parked
        ends[execution["node_id"]] = (min(e["seq"] for e in events if e["type"] == "execution.started"),
                                      max(e["seq"] for e in events))
        calls = [r.answer for r in rig.model.of(api) if r.answer in ("limit", "tool", "final")]
        # A tool call, the refused call; then the continuing turn (Claude answers its pending tool result
        # and the new words in one call: a final answer at once).
        assert calls[:2] == ["tool", "limit"] and calls[-1] == "final" and len(calls) <= 4, (agent, rig.model.log())
        assert session_id_in(execution["argv"], execution["session_id"]), (agent, execution["argv"])
        assert execution["result_text"] == describe(CONTINUE_PROMPT), (agent, rig.explain(executions))
        assert execution["error"] is None and execution["resume_at"] is None
    # Each downstream node started only after its upstream node went on and finished.
    assert ends["plan"][1] < ends["build"][0] and ends["build"][1] < ends["review"][0]
    # The continuing turns carried the node's first prompt in their history, the continue prompt last.
    for execution in executions:
        calls = [r for r in rig.model.of(API[execution["agent"]]) if r.answer in ("limit", "tool", "final")]
        resumed = calls[2]
        assert resumed.prompt == CONTINUE_PROMPT, resumed.summary()
        assert any(text.startswith(f"Do the {execution['node_id']} step.") for text in resumed.user_texts)


def session_id_in(argv: list[str], session_id: str | None) -> bool:
    return session_id is not None and session_id in argv


async def test_a_parked_real_cli_survives_a_hub_restart(tmp_path: Path, clis: dict[str, Path]) -> None:
    """Claude Code with a subscription (an OAuth token) at its 5-hour limit: the denied rate_limit_event's
    resetsAt is the resume time; the hub stops and starts again; the execution is still parked and goes on."""
    async with trio.open_nursery() as nursery:
        model = ModelServer(record_dir=tmp_path / "model-requests")
        await nursery.start(model.serve)
        env = rig_env(tmp_path, model, clis)
        del env["ANTHROPIC_API_KEY"]
        env["CLAUDE_CODE_OAUTH_TOKEN"] = "sk-ant-oat01-stand-in"
        limit = model.limit(ANTHROPIC, requests=1, reset_in_s=3600, skip=1)  # after its first tool call
        async with hub_process(env) as hub, hub.http() as http:
            rig = Rig(hub, http, model, tmp_path / "home")
            project = await rig.post("/projects", {"name": "restart"}, 201)
            pid = project["id"]
            await rig.post(f"/projects/{pid}/nodes", {"id": "a", "title": "A", "agent": "claude-code",
                                                      "prompt": "Write it.", "timeout_s": NODE_TIMEOUT_S}, 201)
            await rig.post(f"/projects/{pid}/nodes", {"id": "b", "title": "B", "agent": "claude-code",
                                                      "prompt": "Check it.", "depends_on": ["a"],
                                                      "timeout_s": NODE_TIMEOUT_S}, 201)
            launched = await rig.post("/launch", {"project_id": pid}, 202)
            ids = {e["node_id"]: e["id"] for e in launched["executions"]}
            await wait_for_event(hub, pid, lambda e: e["type"] == "execution.parked", within=RUN_WITHIN_S)
            before = await rig.execution(ids["a"])
            assert before["resume_at"] == pytest.approx(int(limit.resets_at) + 2), before
            assert before["error"].startswith("usage limit: You've hit your"), before

        async with hub_process(env) as hub, hub.http() as http:
            rig = Rig(hub, http, model, tmp_path / "home")
            after = await rig.execution(ids["a"])
            assert (after["status"], after["resume_at"]) == ("parked", before["resume_at"])
            assert (await rig.execution(ids["b"]))["status"] == "queued"
            await rig.post(f"/executions/{ids['a']}/resume", {}, 202)
            executions = await rig.finished(pid, launched)
            assert [e["status"] for e in executions] == ["succeeded", "succeeded"], rig.explain(executions)
            assert before["session_id"] in executions[0]["argv"]  # --resume SESSION
        nursery.cancel_scope.cancel()


async def test_a_real_failure_of_a_real_cli_still_fails(rig: Rig) -> None:
    """An agent that exits 1 without any limit is a failure, not a park."""
    project = await rig.post("/projects", {"name": "failure"}, 201)
    pid = project["id"]
    response = await rig.http.post("/agent-templates", json={
        "id": "broken-claude", "name": "Broken", "output": "claude-stream-json",
        "command": [str(CLI_DIR / "claude"), "-p", "{prompt}", "--output-format", "stream-json", "--verbose",
                    "--no-such-flag"]})
    assert response.status_code == 201, response.text
    await rig.post(f"/projects/{pid}/nodes", {"id": "a", "title": "A", "agent": "broken-claude", "prompt": "x"}, 201)
    await rig.post(f"/projects/{pid}/nodes", {"id": "b", "title": "B", "agent": "claude-code", "prompt": "y",
                                              "depends_on": ["a"]}, 201)
    executions = await rig.finished(pid, await rig.post("/launch", {"project_id": pid}, 202))
    assert [(e["node_id"], e["status"]) for e in executions] == [("a", "failed"), ("b", "skipped")], \
        rig.explain(executions)
    assert executions[0]["exit_code"] == 1 and executions[0]["resume_at"] is None


HOSTILE_AGENT = ROOT / "tests" / "hostile_agent.py"
#: The script runs in the agent's shell: a Python outside every hidden path (not a pyenv under HOME).
SYSTEM_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
#: Another CLI's key, in the hub's environment, that each CLI's sandbox must not pass on.
OTHER_KEY = {"claude-code": "OPENAI_API_KEY", "codex": "ANTHROPIC_API_KEY", "gemini": "OPENAI_API_KEY"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


async def hostile_tool_calls(rig: Rig, tmp_path: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each real CLI asked by its model to run tests/hostile_agent.py through its shell tool, in a git
    project beside another project: agent -> (its execution, what each attempt got, from the branch)."""
    other = await rig.post("/projects", {"name": "other"}, 201)
    (Path(other["workspace"]) / "secret.txt").write_text("another project's code\n")
    project = await rig.post("/projects", {"name": "hostile", "workspace": "repo"}, 201)
    repo = Path(project["workspace"])
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("base\n")
    # The script goes in the repository: a checkout under /tmp, /home or /root is hidden from agents.
    (repo / HOSTILE_AGENT.name).write_text(HOSTILE_AGENT.read_text())
    git(repo, "add", "README.md", HOSTILE_AGENT.name)
    git(repo, "commit", "-q", "-m", "base")
    for agent in EXECUTABLES:
        targets = {"token_file": str(tmp_path / "orchestra.db.token"), "database": str(tmp_path / "orchestra.db"),
                   "other_workspace": other["workspace"], "outside": str(tmp_path / f"outside-{agent}.txt"),
                   "hub_pid": rig.hub.pid, "hub_url": rig.hub.url, "other_key": OTHER_KEY[agent]}
        command = f"{SYSTEM_PYTHON} {HOSTILE_AGENT.name} {shlex.quote(json.dumps(targets))}"
        await rig.post(f"/projects/{project['id']}/nodes", {"id": f"evil-{agent}", "title": agent, "agent": agent,
                                                            "prompt": f"RUN-SHELL: {command}",
                                                            "timeout_s": NODE_TIMEOUT_S}, 201)
    executions = await rig.finished(project["id"], await rig.post("/launch", {"project_id": project["id"]}, 202))
    tools = [(e["agent"], outputs(await rig.events(e["id"]), "tool_result")) for e in executions]
    assert all(e["status"] == "succeeded" and e["branch"] for e in executions), f"{rig.explain(executions)}\n{tools}"
    return {e["agent"]: (e, json.loads(git(repo, "show", f"{e['branch']}:attempts.json"))) for e in executions}


async def test_each_real_cli_in_its_sandbox_reaches_nothing_of_the_hub(tmp_path: Path, clis: dict[str, Path]) -> None:
    async with open_rig(tmp_path, clis, "bwrap") as rig:
        token = (tmp_path / "orchestra.db.token").read_bytes()
        results = await hostile_tool_calls(rig, tmp_path)
        for agent, (execution, attempts) in results.items():
            assert execution["sandbox"] == "bwrap"
            assert {name for name, got in attempts.items() if got["ok"]} == set(), (agent, attempts)
            assert "401" in attempts["api_with_found_token"]["detail"], (agent, attempts)
            assert not (tmp_path / f"outside-{agent}.txt").exists()
        assert (tmp_path / "orchestra.db.token").read_bytes() == token
        others = [p for p in (tmp_path / "workspaces").iterdir() if (p / "secret.txt").exists()]
        assert [sorted(c.name for c in p.iterdir()) for p in others] == [["secret.txt"]]
        assert (await rig.http.get("/projects")).status_code == 200


async def test_with_the_sandbox_off_each_real_cli_reaches_the_hub(tmp_path: Path, clis: dict[str, Path]) -> None:
    async with open_rig(tmp_path, clis, "off") as rig:
        results = await hostile_tool_calls(rig, tmp_path)
    for agent, (execution, attempts) in results.items():
        assert execution["sandbox"] == "off: ORCHESTRA_SANDBOX=off"
        assert {name for name, got in attempts.items() if not got["ok"]} == set(), (agent, attempts)
