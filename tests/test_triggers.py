"""Triggers: a signed webhook launches its project (401 without the right signature), and cron
schedules fire once per tick, across restarts of a real hub whose clock the test moves (a clock file)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import trio
from conftest import TOKEN, WAIT_S, FakeAgents, LiveHub
from hubproc import ENTRY, HubProcess, hub_env, hub_process, wait_for_event

from orchestra.core.cron import iso, latest_tick, next_tick
from orchestra.triggers.schedules import hub_timezone
from orchestra.triggers.webhooks import signature

SECRET = "s3cret-0123456789-abcdef"


async def webhook_project(hub: LiveHub, **webhook: Any) -> str:
    pid = (await hub.create_project(name="hooked"))["id"]
    await hub.create_node(pid, id="build", prompt="Build {{inputs.ref}}")
    response = await hub.http.put(f"/projects/{pid}/webhook", json={"secret": SECRET} | webhook)
    assert response.status_code == 200, response.text
    return pid


async def deliver(hub: LiveHub, pid: str, body: bytes, sig: str | None, **headers: str) -> httpx.Response:
    sent = headers | ({"X-Hub-Signature-256": sig} if sig is not None else {})
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:  # no token: the signature is the credential
        return await anonymous.post(f"/hooks/{pid}", content=body, headers=sent)


async def test_a_signed_delivery_launches_and_a_wrong_signature_is_401(hub: LiveHub, agents: FakeAgents) -> None:
    pid = await webhook_project(hub, inputs={"ref": "main"})
    body = b'{"ref": "refs/heads/main", "after": "abc123"}'
    refusals = [
        await deliver(hub, pid, body, None),
        await deliver(hub, pid, body, "sha256=" + "0" * 64),
        await deliver(hub, pid, body, signature("another-secret-0123456789", body)),
        await deliver(hub, pid, body + b" ", signature(SECRET, body)),  # the body was changed on the way
        await deliver(hub, pid, body, signature(SECRET, body).removeprefix("sha256=")),
        await deliver(hub, "prj_nope", body, signature(SECRET, body)),  # the same 401: no project is revealed
    ]
    for response in refusals:
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert error["code"] == "unauthorized" and "X-Hub-Signature-256: sha256=" in error["message"]
    assert (await hub.get("/runs", params={"project_id": pid})).json()["runs"] == []

    accepted = await deliver(hub, pid, body, signature(SECRET, body), **{  # as curl -d sends it
        "X-GitHub-Event": "push", "Content-Type": "application/x-www-form-urlencoded"})
    assert accepted.status_code == 202, accepted.text
    run = await hub.wait_run(accepted.json())
    assert run["status"] == "succeeded"
    assert run["trigger"] == {"kind": "webhook", "event": "push"} and run["inputs"] == {"ref": "main"}
    assert [r["prompt"] for r in agents.recorded()] == ["Build main"]
    with trio.fail_after(WAIT_S):
        status = await trio.run_process([sys.executable, str(ENTRY), "status", run["id"], "--hub", hub.url,
                                         "--token", TOKEN], capture_stdout=True, check=True)
    assert "  triggered by webhook: event push\n  input ref = main\n" in status.stdout.decode()

    ping = await deliver(hub, pid, b"{}", signature(SECRET, b"{}"), **{"X-GitHub-Event": "ping"})
    assert ping.status_code == 200 and ping.json() == {"ping": "ok"}
    assert len((await hub.get("/runs", params={"project_id": pid})).json()["runs"]) == 1


async def test_the_secret_is_never_shown_and_bad_settings_change_nothing(hub: LiveHub) -> None:
    pid = await webhook_project(hub, node_ids=["build"])
    shown = await hub.get(f"/projects/{pid}/webhook")
    assert shown.status_code == 200
    assert shown.json() | {"created_at": 0, "updated_at": 0} == {
        "project_id": pid, "url": f"/hooks/{pid}", "secret_hint": "…cdef", "inputs": {}, "node_ids": ["build"],
        "created_at": 0, "updated_at": 0}
    assert SECRET[:-4] not in shown.text
    cases = [
        (await hub.http.put(f"/projects/{pid}/webhook", json={"secret": "short"}), 422, "'secret'"),
        (await hub.http.put(f"/projects/{pid}/webhook", json={"secret": SECRET, "inputs": {"a-b": "x"}}), 422,
         "'inputs.a-b.[key]'"),
        (await hub.http.put(f"/projects/{pid}/webhook", json={}), 422, "'secret': Field required"),
        (await hub.http.put("/projects/prj_nope/webhook", json={"secret": SECRET}), 404, "prj_nope"),
        (await hub.get("/projects/prj_nope/webhook"), 404, "has no webhook"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"], response.text
    assert (await hub.get(f"/projects/{pid}/webhook")).json() == shown.json()
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert (await anonymous.get(f"/projects/{pid}/webhook")).status_code == 401  # settings need the token

    assert (await hub.delete(f"/projects/{pid}/webhook")).status_code == 204
    assert (await deliver(hub, pid, b"{}", signature(SECRET, b"{}"))).status_code == 401
    assert (await hub.delete(f"/projects/{pid}/webhook")).status_code == 404


async def test_bad_schedules_are_refused_and_nothing_is_stored(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    cases = [
        ({"cron": "* * * *"}, 422, "'cron': Value error, needs the five standard fields"),
        ({"cron": "* * * * * *"}, 422, "needs the five standard fields"),
        ({"cron": "61 * * * *"}, 422, "'cron': Value error, is not a valid cron expression"),
        ({"cron": "0 0 31 2 *"}, 422, "is not a valid cron expression"),
        ({"cron": "0 9 * * *", "inputs": {"x": 1}}, 422, "'inputs.x'"),
        ({"cron": "0 9 * * *", "every": 5}, 422, "'every': Extra inputs"),
    ]
    for body, status, message in cases:
        response = await hub.post(f"/projects/{pid}/schedules", body)
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"], response.text
    assert (await hub.get(f"/projects/{pid}/schedules")).json()["schedules"] == []
    assert (await hub.post("/projects/prj_nope/schedules", {"cron": "0 9 * * *"})).status_code == 404
    assert (await hub.get("/projects/prj_nope/schedules")).status_code == 404
    assert (await hub.delete("/schedules/sch_nope")).status_code == 404
    created = await hub.post(f"/projects/{pid}/schedules", {"cron": "0 0 1 1 *"})
    assert created.status_code == 201, created.text
    assert (await hub.delete(f"/schedules/{created.json()['id']}")).status_code == 204
    assert (await hub.get(f"/projects/{pid}/schedules")).json()["schedules"] == []

    # A deleted project takes its schedules and its webhook with it.
    again = (await hub.post(f"/projects/{pid}/schedules", {"cron": "0 0 1 1 *"})).json()
    assert (await hub.http.put(f"/projects/{pid}/webhook", json={"secret": SECRET})).status_code == 200
    assert (await hub.delete(f"/projects/{pid}")).status_code == 204
    assert (await hub.delete(f"/schedules/{again['id']}")).status_code == 404
    assert (await deliver(hub, pid, b"{}", signature(SECRET, b"{}"))).status_code == 401


# -- schedules on a real hub, driven by a clock file ---------------------------------------------------


def set_clock(path: Path, when: str) -> None:
    """Move the hub's schedule clock (atomically: the hub never reads half a number)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(str(datetime.fromisoformat(when).timestamp()))
    os.replace(temporary, path)


@asynccontextmanager
async def clocked_hub(env: dict[str, str]) -> AsyncIterator[tuple[HubProcess, httpx.AsyncClient]]:
    """A hub subprocess, stopped with SIGTERM at the end (its client closed first: an idle keep-alive
    connection would hold the stop up); its first pass over the schedules (the catch-up of missed
    ticks) is done before it listens."""
    async with hub_process(env) as hub:
        async with hub.http() as http:
            yield hub, http


def ticks(runs: list[dict[str, Any]]) -> list[str]:
    return sorted(run["trigger"]["tick"] for run in runs)


async def test_a_schedule_fires_once_per_tick_across_restarts(tmp_path: Path, agents: FakeAgents) -> None:
    clock = tmp_path / "clock"
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"),
                  ORCHESTRA_CLOCK_FILE=str(clock), ORCHESTRA_TIMEZONE="UTC")
    set_clock(clock, "2026-06-01T12:00:30+00:00")
    async with clocked_hub(env) as (hub, http):
        pid = (await http.post("/projects", json={"name": "nightly"})).json()["id"]
        node = {"id": "tick", "title": "Tick", "prompt": "tick", "agent": "claude-code"}
        assert (await http.post(f"/projects/{pid}/nodes", json=node)).status_code == 201
        created = await http.post(f"/projects/{pid}/schedules", json={"cron": "* * * * *"})
        assert created.status_code == 201, created.text
        schedule = created.json()
        assert schedule["next_at"] == "2026-06-01T12:01:00+00:00" and schedule["last_tick"] is None

        set_clock(clock, "2026-06-01T12:01:05+00:00")
        started = await wait_for_event(hub, pid, lambda e: e["type"] == "run.started")
        assert started["run"]["trigger"] == {"kind": "schedule", "schedule_id": schedule["id"],
                                             "tick": "2026-06-01T12:01:00+00:00"}
        set_clock(clock, "2026-06-01T12:01:50+00:00")  # the same tick: nothing new
        set_clock(clock, "2026-06-01T12:02:00+00:00")
        await wait_for_event(hub, pid, lambda e: e["type"] == "run.started"
                             and e["run"]["trigger"]["tick"] == "2026-06-01T12:02:00+00:00")
        runs = (await http.get("/runs", params={"project_id": pid})).json()["runs"]
        assert ticks(runs) == ["2026-06-01T12:01:00+00:00", "2026-06-01T12:02:00+00:00"]

    async with clocked_hub(env) as (hub, http):  # restarted within the tick it already fired
        runs = (await http.get("/runs", params={"project_id": pid})).json()["runs"]
        assert ticks(runs) == ["2026-06-01T12:01:00+00:00", "2026-06-01T12:02:00+00:00"]

    set_clock(clock, "2026-06-01T12:05:10+00:00")  # down over three ticks: the latest fires, once
    async with clocked_hub(env) as (hub, http):
        runs = (await http.get("/runs", params={"project_id": pid})).json()["runs"]
        assert ticks(runs) == ["2026-06-01T12:01:00+00:00", "2026-06-01T12:02:00+00:00",
                               "2026-06-01T12:05:00+00:00"]
        listed = (await http.get(f"/projects/{pid}/schedules")).json()
        assert listed["timezone"] == "UTC"
        assert listed["schedules"][0]["last_tick"] == "2026-06-01T12:05:00+00:00"
        assert listed["schedules"][0]["last_run_id"] == runs[0]["id"]
        assert listed["schedules"][0]["next_at"] == "2026-06-01T12:06:00+00:00"


async def test_schedules_use_the_hub_time_zone_and_a_failed_launch_uses_up_its_tick(
        tmp_path: Path, agents: FakeAgents) -> None:
    clock = tmp_path / "clock"
    env = hub_env(tmp_path, TOKEN, ORCHESTRA_CLAUDE_BIN=str(agents.bin_dir / "claude"),
                  ORCHESTRA_CLOCK_FILE=str(clock), ORCHESTRA_TIMEZONE="Asia/Kolkata")
    set_clock(clock, "2026-06-01T03:29:00+00:00")  # 08:59 in Kolkata (UTC+05:30)
    pids = {}
    async with clocked_hub(env) as (_, http):
        for name, prompt, inputs in (("morning", "report {{inputs.team}}", {"team": "core"}),
                                     ("broken", "report {{inputs.team}}", {})):
            pid = pids[name] = (await http.post("/projects", json={"name": name})).json()["id"]
            node = {"id": "report", "title": "Report", "prompt": prompt, "agent": "claude-code"}
            assert (await http.post(f"/projects/{pid}/nodes", json=node)).status_code == 201
            created = await http.post(f"/projects/{pid}/schedules", json={"cron": "0 9 * * *", "inputs": inputs})
            assert created.status_code == 201, created.text
            assert created.json()["next_at"] == "2026-06-01T09:00:00+05:30"

    set_clock(clock, "2026-06-01T03:30:30+00:00")
    for _ in range(2):  # the second start finds both ticks handled: no new run, no retry
        async with clocked_hub(env) as (_, http):
            runs = (await http.get("/runs", params={"project_id": pids["morning"]})).json()["runs"]
            assert [(r["trigger"]["tick"], r["inputs"]) for r in runs] == [
                ("2026-06-01T09:00:00+05:30", {"team": "core"})]
            assert (await http.get("/runs", params={"project_id": pids["broken"]})).json()["runs"] == []
            broken = (await http.get(f"/projects/{pids['broken']}/schedules")).json()
            assert broken["timezone"] == "Asia/Kolkata"
            assert broken["schedules"][0]["last_tick"] == "2026-06-01T09:00:00+05:30"
            assert broken["schedules"][0]["last_run_id"] is None
            assert broken["schedules"][0]["last_error"].startswith("missing launch input(s) team")


def test_cron_ticks_in_a_time_zone_and_the_hub_zone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    paris = ZoneInfo("Europe/Paris")
    noon = datetime(2026, 6, 1, 12, 0, 30, tzinfo=paris).timestamp()
    assert iso(latest_tick("* * * * *", noon, paris), paris) == "2026-06-01T12:00:00+02:00"
    assert iso(next_tick("0 6 * * 1-5", noon, paris), paris) == "2026-06-02T06:00:00+02:00"
    assert iso(latest_tick("0 12 * * *", datetime(2026, 6, 1, 12, tzinfo=paris).timestamp(), paris),
               paris) == "2026-06-01T12:00:00+02:00"  # a tick at exactly now is due now
    # 02:30 does not exist on the night clocks go forward: Debian cron's rule runs it at 03:00.
    night = datetime(2026, 3, 29, 0, 0, tzinfo=paris).timestamp()
    assert iso(next_tick("30 2 * * *", night, paris), paris) == "2026-03-29T03:00:00+02:00"
    assert str(hub_timezone("Asia/Kolkata")) == "Asia/Kolkata"
    monkeypatch.setenv("TZ", ":Europe/Paris")
    assert str(hub_timezone(None)) == "Europe/Paris"
