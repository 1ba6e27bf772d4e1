"""The terminal client as a real subprocess against a real hub."""

from __future__ import annotations

import subprocess
import sys

import trio
from conftest import TOKEN, WAIT_S, LiveHub
from hubproc import ENTRY


async def run_cli(hub: LiveHub, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(WAIT_S):
        return await trio.run_process(
            [sys.executable, str(ENTRY), *args, "--hub", hub.url, "--token", token],
            capture_stdout=True, capture_stderr=True, check=False,
        )


async def test_launch_until_done_shows_progress_and_exits_0(hub: LiveHub) -> None:
    project = await hub.create_project(name="cli-demo")
    await hub.create_node(project["id"], id="plan")
    await hub.create_node(project["id"], id="build", depends_on=["plan"])
    result = await run_cli(hub, "launch", "cli-demo", "--until-done")
    out = result.stdout.decode()
    assert result.returncode == 0, (out, result.stderr.decode())
    for expected in ("[plan] started claude-code", "[plan] I'll create the file.", "[plan] tool Write",
                     "[plan] succeeded", "[build] succeeded", "Done: created hello.txt containing hi."):
        assert expected in out, out
    assert out.index("[plan] succeeded") < out.index("[build] started")
    assert "run run_" in out and "succeeded" in out.splitlines()[-1]


async def test_launch_until_done_exits_1_when_a_node_fails(hub: LiveHub) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="bad", prompt="@fail")
    await hub.create_node(project["id"], id="after", depends_on=["bad"])
    result = await run_cli(hub, "launch", project["id"], "--until-done")
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "[bad] failed" in out
    assert "[after] skipped" in out
    assert "failed: node(s) did not succeed: bad" in out


async def test_watch_reconnects_with_since_and_misses_nothing(hub: LiveHub) -> None:
    project = await hub.create_project()
    pid = project["id"]
    await hub.create_node(pid, id="slow", prompt="@lines=40 @delay=0.02")
    async with trio.open_nursery() as nursery:
        results: list[subprocess.CompletedProcess[bytes]] = []

        async def watch() -> None:
            results.append(await run_cli(hub, "watch", pid, "--until-done"))

        with hub.running.hub.bus.subscribe(pid) as probe:
            nursery.start_soon(watch)
            # the watcher is subscribed once the bus has two subscribers: the probe and it
            with trio.fail_after(WAIT_S):
                await hub.running.hub.bus.wait_for_subscribers(pid, 2)
            await hub.launch(pid)
            with trio.fail_after(WAIT_S):
                while not any(e.body.find('"line 20"') >= 0 for e in await probe.next_batch(1000)):
                    pass
            hub.running.hub.bus.close_all(4008, "test: too slow")
    out = results[0].stdout.decode()
    assert results[0].returncode == 0, out
    assert "(connection closed: 4008" in out
    numbered = [line.split("] ", 1)[1] for line in out.splitlines() if "[slow] line " in line]
    assert numbered == [f"line {i}" for i in range(1, 41)]


async def test_status_and_cancel(hub: LiveHub) -> None:
    project = await hub.create_project(name="stat")
    await hub.create_node(project["id"], id="long", prompt="@hang")
    launched = await hub.launch(project["id"])
    await hub.wait_execution(launched["executions"][0]["id"], {"running"})
    status = await run_cli(hub, "status", "stat")
    assert status.returncode == 0
    assert "long" in status.stdout.decode() and "running" in status.stdout.decode()
    cancel = await run_cli(hub, "cancel", launched["run_id"])
    assert cancel.returncode == 0, cancel.stderr
    assert f"{launched['run_id']}: cancelling" in cancel.stdout.decode()
    run = await hub.wait_run(launched)
    assert run["status"] == "cancelled"
    shown = await run_cli(hub, "status", launched["run_id"])
    assert "cancelled" in shown.stdout.decode()


async def test_wrong_token_and_unknown_project_are_one_line_errors(hub: LiveHub) -> None:
    bad = await run_cli(hub, "status", "whatever", token="wrong-token-wrong-token")
    assert bad.returncode == 1
    assert bad.stderr.decode().strip().startswith(f"orchestra: GET {hub.url}/projects: 401")
    assert "Traceback" not in bad.stderr.decode()
    missing = await run_cli(hub, "watch", "no-such-project")
    assert missing.returncode == 1
    assert "project 'no-such-project' does not exist" in missing.stderr.decode()


async def test_checks_show_their_verdict_and_the_tail_of_a_failure(hub: LiveHub) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="ok", check=["true"])
    await hub.create_node(project["id"], id="bad", check=["sh", "-c", "echo first; echo 2 tests failed; exit 3"])
    result = await run_cli(hub, "launch", project["id"], "--until-done")
    out = result.stdout.decode()
    assert result.returncode == 1, out
    assert "[ok] check true started" in out and "[ok] check true passed" in out
    failed = "[bad] check sh -c 'echo first; echo 2 tests failed; exit 3' FAILED (exit code 3)"
    assert failed in out, out
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if failed in line)
    assert lines[at + 1].endswith("[bad]   first") and lines[at + 2].endswith("[bad]   2 tests failed")
