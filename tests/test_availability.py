"""Each template's CLI is looked for at start and on demand: its executable resolved, its version asked
only where the template declares a ``version_command`` (the built-ins do), never its real command."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import TOKEN, WAIT_S, LiveHub
from hubproc import hub_env, hub_process
from signalling import Fifo, leftovers
from test_api_errors import assert_error, unchanged

from orchestra.runtime import availability


async def test_health_and_templates_report_each_cli(hub: LiveHub) -> None:
    reports = (await hub.post("/agent-templates/check")).json()["availability"]
    assert reports["claude-code"]["available"] is True
    assert reports["claude-code"]["version"] == "fake-agent 1.0 replaying claude-tool.jsonl"
    health = (await hub.get("/health")).json()
    assert health["agents"]["codex"] == {"available": True, "version": "fake-agent 1.0 replaying codex-tool.jsonl"}
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert "agents" not in (await anonymous.get("/health")).json()  # versions only for the token holder
    templates = {t["id"]: t for t in (await hub.get("/agent-templates")).json()["agent_templates"]}
    assert templates["gemini"]["availability"]["path"] == hub.settings.gemini_bin


async def test_a_missing_cli_is_reported_before_any_launch(hub: LiveHub) -> None:
    response = await hub.post("/agent-templates", {
        "id": "ghost", "name": "Ghost", "command": ["no-such-cli-anywhere", "{prompt}"], "output": "text"})
    assert response.status_code == 201
    reports = (await hub.post("/agent-templates/check")).json()["availability"]
    assert reports["ghost"]["available"] is False
    assert reports["ghost"]["error"].startswith("no-such-cli-anywhere: executable not found on PATH")
    health = (await hub.get("/health")).json()
    assert health["agents"]["ghost"]["available"] is False


# -- the check itself, on small executables under tmp_path ------------------------------------------
# Each script's sleeper carries the script's path ($0) in its command line, so a leftover is found by
# the script's directory (and the autouse no_leftover_agents fixture fails the test too).

SLEEPER = f"'{sys.executable}' -c 'import time; time.sleep(3600)' \"$0\""


def executable(tmp_path: Path, name: str, body: str, *, version: bool = True) -> dict[str, Any]:
    """A user template whose executable is the shell script ``body`` under ``tmp_path/bin``; with
    ``version``, it declares ``[script, "--version"]`` as its version command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    template = {"id": name, "name": name, "command": [str(script), "{prompt}"], "output": "text", "env": {}}
    return template | {"version_command": [str(script), "--version"]} if version else template


async def test_a_version_that_forks_a_child_holding_the_pipe_leaves_nothing_and_does_not_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(availability, "VERSION_TIMEOUT_S", 10)
    template = executable(tmp_path, "forky", f"""\
        {SLEEPER} &
        echo "forky 1.0"
        """)
    with trio.fail_after(WAIT_S):
        started = trio.current_time()
        report = await availability.check(template)
        took = trio.current_time() - started
    assert report["available"] is True, report
    assert report["version"] == "forky 1.0"
    assert report["error"] is None
    assert took < availability.VERSION_TIMEOUT_S  # the read after the leader's exit is bounded
    assert await leftovers(str(tmp_path / "bin")) == []


async def test_a_version_that_forks_a_detached_child_leaves_nothing(tmp_path: Path) -> None:
    template = executable(tmp_path, "daemonish", f"""\
        {SLEEPER} </dev/null >/dev/null 2>&1 &
        echo "daemonish 2.0"
        """)
    with trio.fail_after(WAIT_S):
        report = await availability.check(template)
    assert report["available"] is True and report["version"] == "daemonish 2.0", report
    assert await leftovers(str(tmp_path / "bin")) == []


async def test_a_version_that_hangs_times_out_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(availability, "VERSION_TIMEOUT_S", 1)
    template = executable(tmp_path, "stuck", f"""\
        echo "stuck 0.1"
        {SLEEPER} &
        wait
        """)
    with trio.fail_after(WAIT_S):
        report = await availability.check(template)
    assert report["available"] is False, report
    assert report["error"] == f"{tmp_path / 'bin' / 'stuck'} --version did not answer within 1 s"
    assert await leftovers(str(tmp_path / "bin")) == []


async def test_a_version_that_exits_non_zero_is_not_available(tmp_path: Path) -> None:
    template = executable(tmp_path, "three", """\
        echo "three 3.0"
        exit 3
        """)
    with trio.fail_after(WAIT_S):
        report = await availability.check(template)
    assert report["available"] is False
    assert report["error"] == f"{tmp_path / 'bin' / 'three'} --version exited with code 3"
    assert report["version"] == "three 3.0"


async def test_cancelling_a_running_check_leaves_nothing(tmp_path: Path) -> None:
    started = Fifo(tmp_path / "started")
    template = executable(tmp_path, "slow", f"""\
        {SLEEPER} &
        echo started > '{started.path}'
        wait
        """)
    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(availability.check, template)
            assert await started.line() == "started"  # the script and its child are running
            nursery.cancel_scope.cancel()
        assert await leftovers(str(tmp_path / "bin")) == []
    await started.aclose()


async def test_one_template_is_checked_on_demand(hub: LiveHub, tmp_path: Path) -> None:
    template = executable(tmp_path, "solo", 'echo "solo 4.2"\n')
    assert (await hub.post("/agent-templates", template)).status_code == 201
    response = await hub.post("/agent-templates/solo/check")
    assert response.status_code == 200, response.text
    checked = response.json()
    assert checked["id"] == "solo" and checked["command"] == template["command"]
    assert checked["availability"]["available"] is True
    assert checked["availability"]["version"] == "solo 4.2"
    assert checked["availability"]["path"] == template["command"][0]
    listed = {t["id"]: t for t in (await hub.get("/agent-templates")).json()["agent_templates"]}
    kept = listed["solo"]["availability"]  # the hub keeps it (or the creation's own check, the same)
    assert (kept["available"], kept["version"], kept["path"]) == (True, "solo 4.2", template["command"][0])

    ghost = {"id": "ghost", "name": "Ghost", "command": ["no-such-cli-anywhere", "{prompt}"], "output": "text"}
    assert (await hub.post("/agent-templates", ghost)).status_code == 201
    report = (await hub.post("/agent-templates/ghost/check")).json()["availability"]
    assert report["available"] is False
    assert report["error"].startswith("no-such-cli-anywhere: executable not found on PATH")
    assert (await hub.post("/agent-templates/claude-code/check")).json()["availability"]["available"] is True


async def test_checking_an_unknown_template_is_404(hub: LiveHub) -> None:
    async with unchanged(hub):
        assert_error(await hub.post("/agent-templates/nope/check"), 404, "not_found", "'nope'")


# -- issue 26, item 4: no side effects ---------------------------------------------------------------


async def test_a_script_template_without_a_version_command_is_resolved_never_run(tmp_path: Path) -> None:
    """A script that does its real work whatever its arguments (and knows no --version) is available,
    with its resolved path, and the check never ran it (on 5d24be3 it ran it with --version)."""
    ran = tmp_path / "ran"
    template = executable(tmp_path, "worker", f"""\
        echo "$@" >> '{ran}'
        exit 2
        """, version=False)
    link = tmp_path / "bin" / "worker-link"
    link.symlink_to(tmp_path / "bin" / "worker")
    template["command"][0] = str(link)
    with trio.fail_after(WAIT_S):
        report = await availability.check(template)
    assert report["available"] is True, report
    assert report["error"] is None and report["version"] is None
    assert report["path"] == str(link) and report["resolved_path"] == str(tmp_path / "bin" / "worker")
    assert not ran.exists(), "the check ran the template's command"


async def test_a_file_that_is_not_executable_or_missing_is_said_so(tmp_path: Path) -> None:
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    report = await availability.check({"id": "p", "name": "p", "command": [str(plain), "{prompt}"],
                                        "output": "text", "env": {}})  # type: ignore[typeddict-item]
    assert (report["available"], report["error"]) == (False, f"{plain}: not an executable file")
    gone = tmp_path / "gone"
    report = await availability.check({"id": "g", "name": "g", "command": [str(gone), "{prompt}"],
                                        "output": "text", "env": {}})  # type: ignore[typeddict-item]
    assert (report["available"], report["error"]) == (False, f"{gone}: no such file")


async def test_a_user_template_declares_its_version_command_through_the_api(hub: LiveHub, tmp_path: Path) -> None:
    template = executable(tmp_path, "versioned", 'echo "versioned 7.1"\n')
    created = await hub.post("/agent-templates", template)
    assert created.status_code == 201 and created.json()["version_command"] == template["version_command"]
    checked = (await hub.post("/agent-templates/versioned/check")).json()["availability"]
    assert (checked["available"], checked["version"]) == (True, "versioned 7.1")
    async with unchanged(hub):
        bad = await hub.post("/agent-templates", template | {"id": "bad", "version_command": ["{prompt}"]})
        assert_error(bad, 422, "validation_error", "version_command")


async def test_the_demo_template_is_available_with_its_version(hub: LiveHub) -> None:
    demo = (await hub.post("/agent-templates/demo/check")).json()
    assert demo["builtin"] is True and demo["output"] == "claude-stream-json"
    assert demo["availability"]["available"] is True, demo
    assert demo["availability"]["version"] == "orchestra demo agent 1.0"


async def test_a_check_in_flight_when_the_hub_is_sigkilled_is_ended_at_the_next_start(tmp_path: Path) -> None:
    """Its processes carry the hub's check mark; the next hub on the same database ends them (on 5d24be3
    they ran on, orphaned, for ever)."""
    started, first = Fifo(tmp_path / "started"), tmp_path / "first-done"
    template = executable(tmp_path, "hangs", f"""\
        if [ -e '{first}' ]; then echo "hangs 1.0"; exit 0; fi
        touch '{first}'
        {SLEEPER} &
        echo started > '{started.path}'
        wait
        """)
    env = hub_env(tmp_path, TOKEN)
    async with hub_process(env) as hub, hub.http() as http:
        assert (await http.post("/agent-templates", json=template)).status_code == 201
        with trio.fail_after(WAIT_S):
            assert await started.line() == "started"  # the check's script and its child are running
        os.kill(hub.pid, signal.SIGKILL)
        await hub.process.wait()
    assert len(await leftovers(str(tmp_path / "bin"))) == 2, "the check should outlive its SIGKILLed hub"
    async with hub_process(env) as hub:
        assert await leftovers(str(tmp_path / "bin")) == []
        assert "ended 2 leftover process(es) of an availability check" in hub.log.decode()
    await started.aclose()
