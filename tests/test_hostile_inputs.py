"""No input stops the hub: each attack of issue 25 against a real hub, which must answer it with the right
status and change nothing, while ``/health`` answers within a second throughout (polled in parallel:
a liveness bound, not a speed measure) and an unrelated project's agent, run alongside, succeeds with
every one of its lines."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import FakeAgents, LiveHub
from test_hostile_agents import outputs
from test_triggers import SECRET, deliver

from orchestra.flows.key_lines import key_lines
from orchestra.runtime.plans import PlanError, _fenced_blocks, parse
from orchestra.triggers.webhooks import signature

HEALTH_BOUND_S = 1.0  # one /health answer may take at most this long, whatever else the hub does
POLL_EVERY_S = 0.05
BYSTANDER_LINES = 100
TOML = {"Content-Type": "application/toml"}


@asynccontextmanager
async def hub_stays_live(hub: LiveHub) -> AsyncIterator[None]:
    """Around an attack: an unrelated project's agent prints 100 lines over ~2 s, and /health is polled;
    any poll slower than HEALTH_BOUND_S fails the test, and so does a bystander that lost a line."""
    bystander = (await hub.create_project(name="bystander"))["id"]
    await hub.create_node(bystander, id="steady", agent="codex", prompt=f"@lines={BYSTANDER_LINES} @delay=0.02")
    launched = await hub.launch(bystander)
    polls = 0
    attack_over = trio.Event()

    async def poll_health(client: httpx.AsyncClient) -> None:
        nonlocal polls
        while not attack_over.is_set():
            with trio.fail_after(HEALTH_BOUND_S):
                answer = await client.get("/health")
            assert answer.status_code == 200
            polls += 1
            with trio.move_on_after(POLL_EVERY_S):
                await attack_over.wait()

    # (the client is made before: making one loads the CA file, ~0.1 s on this loop, which the test shares)
    async with httpx.AsyncClient(base_url=hub.url) as client, trio.open_nursery() as nursery:
        nursery.start_soon(poll_health, client)
        yield
        run = await hub.wait_run(launched)
        attack_over.set()
    assert polls > 0
    assert run["status"] == "succeeded", run
    texts = [o["text"] for o in outputs(await hub.events(run["executions"][0]["id"]), "text")]
    assert [t for t in texts if t.startswith("line ")] == [f"line {i}" for i in range(1, BYSTANDER_LINES + 1)]
    lag = (await hub.get("/health")).json()["loop_lag_ms"]
    assert lag["worst_recent"] < HEALTH_BOUND_S * 1000 and lag["late_ticks"] == 0, lag


async def projects(hub: LiveHub) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await hub.get("/projects")).json()["projects"]
    return [p for p in listed if p["name"] != "bystander"]


async def apply(hub: LiveHub, text: str, **params: str) -> httpx.Response:
    return await hub.post("/flows/apply", content=text.encode(), headers=TOML, params=params)


# -- flow files ---------------------------------------------------------------------------------------


def bracket_flow(spaces: int) -> str:
    """A flow whose multi-line string, inside an array, holds a line that looks like the start of a table
    header: ``[``, thousands of spaces, ``x`` (a backtracking header regex took ~27 s on 2,500 spaces)."""
    return (f'version = 1\n[project]\nname = "hostile"\nworkspace = "made-by-a-dry-run"\n'
            f'description = [\n"""\n[{" " * spaces}x\n"""\n]\n')


def test_the_key_line_scanner_reads_the_attack_as_a_string() -> None:
    assert key_lines(bracket_flow(100_000)) == {
        ("version",): 1, ("project",): 2, ("project", "name"): 3, ("project", "workspace"): 4,
        ("project", "description"): 5}
    headerish = "[" + " " * 50_000 + "nodes" + " " * 50_000 + "]\n" + "[[" + " " * 50_000 + "x"
    assert key_lines(headerish) == {("nodes",): 1}  # spaces inside brackets are allowed; the rest is no header


async def test_a_flow_with_a_bracket_and_thousands_of_spaces_in_a_string_is_answered_at_once(
        hub: LiveHub) -> None:
    async with hub_stays_live(hub):
        for dry_run in ("true", "false"):
            refused = await apply(hub, bracket_flow(2_000), dry_run=dry_run)
            assert refused.status_code == 422, refused.text
            assert "line 5" in refused.json()["error"]["message"]  # the description's line, found by the scan
    assert await projects(hub) == []
    assert not (hub.settings.workspaces_root / "made-by-a-dry-run").exists()


async def test_deeply_nested_arrays_are_422_not_500(hub: LiveHub) -> None:
    text = 'version = 1\n[project]\nname = "deep"\ndescription = ' + "[" * 500 + "]" * 500 + "\n"
    async with hub_stays_live(hub):
        refused = await apply(hub, text)
    assert refused.status_code == 422, refused.text
    assert "nested too deeply" in refused.json()["error"]["message"]
    assert await projects(hub) == []


async def test_a_dry_run_creates_no_workspace_directory(hub: LiveHub) -> None:
    created = await apply(hub, 'version = 1\n[project]\nname = "dry"\n')
    assert created.status_code == 201, created.text
    for name in ("dry", "dry-new"):  # the existing project moved to a new workspace, and a new project
        text = f'version = 1\n[project]\nname = "{name}"\nworkspace = "dry-ws"\n'
        answer = await apply(hub, text, dry_run="true")
        assert answer.status_code == 200, answer.text
        assert answer.json()["changed"] and not answer.json()["project_created"]
    assert [p["name"] for p in await projects(hub)] == ["dry"]
    assert not (hub.settings.workspaces_root / "dry-ws").exists()


async def test_concurrent_applies_of_a_new_flow_create_one_project(hub: LiveHub) -> None:
    text = ('version = 1\n[project]\nname = "raced"\n\n[[nodes]]\nid = "a"\ntitle = "A"\nagent = "claude-code"\n'
            'prompt = "go"\n')
    answers: list[httpx.Response] = []

    async def one() -> None:
        answers.append(await apply(hub, text))

    async with hub_stays_live(hub), trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(one)
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.text for a in answers]
    created = next(a.json() for a in answers if a.status_code == 201)
    assert all(a.json()["project_id"] == created["project_id"] for a in answers)
    assert all(not a.json()["changed"] for a in answers if a.status_code == 200)
    assert [p["id"] for p in await projects(hub)] == [created["project_id"]]
    assert [n["id"] for n in (await hub.get(f"/projects/{created['project_id']}/nodes")).json()["nodes"]] == ["a"]
    later = await apply(hub, text)  # applying by name still works: there is one project of that name
    assert later.status_code == 200 and later.json()["project_id"] == created["project_id"]


# -- plan answers ---------------------------------------------------------------------------------------


HOSTILE_ANSWERS = {
    "fence-and-empty-lines": "```" + "\n" * 65_000,
    "an-open-brace": "I think { we should",
    "brackets": "[" * 60_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_each_hostile_answer_is_a_malformed_plan(name: str) -> None:
    with pytest.raises(PlanError, match=r"^malformed plan"):
        parse(HOSTILE_ANSWERS[name], 10, 4)


def test_fenced_blocks_are_found_by_the_line_scanner() -> None:
    plan = '{"tasks": [{"id": "a", "title": "A", "prompt": "do a"}]}'
    for text in (f"Here it is:\n```json\n{plan}\n```\n", f"Sure ```\n{plan}```",
                 f"```\n{{broken\n```\n```json\n{plan}\n```"):
        assert [t.id for t in parse(text, 10, 4)] == ["a"], text
    assert _fenced_blocks("```\n" * 100_000) == ["" for _ in range(50_000)]


async def test_hostile_plan_answers_fail_only_their_plan_node(hub: LiveHub, agents: FakeAgents,
                                                               tmp_path: Path) -> None:
    runs = {}
    async with hub_stays_live(hub):
        for name, text in HOSTILE_ANSWERS.items():
            answer = tmp_path / f"{name}.txt"
            answer.write_text(text)
            pid = (await hub.create_project(name=name))["id"]
            await hub.create_node(pid, id="plan", kind="plan", prompt=f"Split it. @result-file={answer}")
            await hub.create_node(pid, id="ship", prompt="ship", depends_on=["plan"])
            await hub.create_node(pid, id="aside", prompt="unrelated")  # not below the plan: it runs
            runs[name] = await hub.launch(pid)
        finished = {name: await hub.wait_run(launched) for name, launched in runs.items()}
    for name, run in finished.items():
        by_node = {e["node_id"]: e for e in run["executions"]}
        assert set(by_node) == {"plan", "ship", "aside"}, name
        assert by_node["plan"]["status"] == "failed", (name, by_node["plan"])
        assert "malformed plan" in by_node["plan"]["error"], (name, by_node["plan"]["error"])
        assert "internal error" not in by_node["plan"]["error"]
        assert (by_node["ship"]["status"], by_node["aside"]["status"]) == ("skipped", "succeeded"), name
        nodes = (await hub.get(f"/projects/{run['project_id']}/nodes")).json()["nodes"]
        assert sorted(n["id"] for n in nodes) == ["aside", "plan", "ship"]  # nothing grown


# -- webhooks ------------------------------------------------------------------------------------------


async def hooked(hub: LiveHub, prompt: str) -> str:
    pid = (await hub.create_project(name="hooked"))["id"]
    await hub.create_node(pid, id="build", prompt=prompt)
    response = await hub.http.put(f"/projects/{pid}/webhook", json={"secret": SECRET})
    assert response.status_code == 200, response.text
    return pid


async def runs_of(hub: LiveHub, pid: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = (await hub.get("/runs", params={"project_id": pid})).json()["runs"]
    return runs


async def test_the_same_delivery_twenty_times_starts_one_run(hub: LiveHub) -> None:
    pid = await hooked(hub, "build it")
    body = b'{"ref": "refs/heads/main"}'
    async with hub_stays_live(hub), httpx.AsyncClient(base_url=hub.url) as sender:
        answers = [await sender.post(f"/hooks/{pid}", content=body, headers={
            "X-Hub-Signature-256": signature(SECRET, body), "X-GitHub-Delivery": "guid-1"}) for _ in range(20)]
    assert answers[0].status_code == 202, answers[0].text
    first_run = answers[0].json()["run_id"]
    for replay in answers[1:]:
        assert replay.status_code == 200, replay.text
        assert replay.json() | {"message": None} == {"duplicate": True, "delivery_id": "guid-1",
                                                     "run_id": first_run, "message": None}
    assert [r["id"] for r in await runs_of(hub, pid)] == [first_run]
    run = await hub.wait_run(first_run)
    assert run["trigger"] == {"kind": "webhook", "event": None, "delivery_id": "guid-1"}  # no event header: null
    generic = await deliver(hub, pid, body, signature(SECRET, body), **{"X-Orchestra-Delivery": "guid-1"})
    assert generic.status_code == 200 and generic.json()["duplicate"]  # the same id, under the generic header
    other = await deliver(hub, pid, body, signature(SECRET, body), **{"X-Orchestra-Delivery": "guid-2"})
    assert other.status_code == 202, other.text
    await hub.wait_run(other.json())


async def test_a_storm_of_signed_deliveries_queues_at_most_the_limit(hub: LiveHub) -> None:
    pid = await hooked(hub, "@hang")  # runs that stay unfinished until cancelled
    limit = hub.settings.webhook_max_queued
    answers: list[httpx.Response] = []

    async def send(sender: httpx.AsyncClient, number: int) -> None:
        body = json.dumps({"n": number}).encode()
        answers.append(await sender.post(f"/hooks/{pid}", content=body, headers={
            "X-Hub-Signature-256": signature(SECRET, body), "X-GitHub-Delivery": f"storm-{number}"}))

    async with httpx.AsyncClient(base_url=hub.url) as sender, hub_stays_live(hub):
        for batch in range(10):
            async with trio.open_nursery() as nursery:
                for number in range(batch * 20, batch * 20 + 20):
                    nursery.start_soon(send, sender, number)
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert len(accepted) == limit, [a.text for a in answers[:3]]
    assert {a.status_code for a in refused} == {429}
    assert all(int(a.headers["Retry-After"]) > 0 for a in refused)
    assert refused[0].json()["error"]["code"] == "too_many_requests"
    runs = await runs_of(hub, pid)
    assert len(runs) == limit
    for run in runs:
        assert (await hub.post(f"/runs/{run['id']}/cancel")).status_code in (200, 202)
        await hub.wait_run(run["id"])
    body = b"{}"  # once the queue has room, a delivery launches again
    again = await deliver(hub, pid, body, signature(SECRET, body), **{"X-GitHub-Delivery": "after"})
    assert again.status_code == 202, again.text
    await hub.post(f"/runs/{again.json()['run_id']}/cancel")
    await hub.wait_run(again.json())


async def test_a_webhook_naming_unknown_nodes_is_refused_when_set(hub: LiveHub) -> None:
    pid = (await hub.create_project(name="hooked"))["id"]
    await hub.create_node(pid, id="build", prompt="build")
    refused = await hub.http.put(f"/projects/{pid}/webhook", json={"secret": SECRET, "node_ids": ["build", "nope"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"] == {"field": "node_ids", "unknown": ["nope"]}
    assert (await hub.get(f"/projects/{pid}/webhook")).status_code == 404  # nothing was set
    accepted = await hub.http.put(f"/projects/{pid}/webhook", json={"secret": SECRET, "node_ids": ["build"]})
    assert accepted.status_code == 200, accepted.text


# -- template secrets ------------------------------------------------------------------------------------


async def test_an_export_leaves_template_env_values_out_and_applying_it_keeps_the_hubs(hub: LiveHub) -> None:
    secret = "sk-live-0123456789abcdef"
    created = await hub.post("/agent-templates", {"id": "keyed", "name": "Keyed", "output": "text",
                                                  "command": ["keyed-cli", "{prompt}"],
                                                  "env": {"OPENAI_API_KEY": secret, "MODE": "quiet"}})
    assert created.status_code == 201, created.text
    pid = (await hub.create_project(name="keyed"))["id"]
    await hub.create_node(pid, id="a", agent="keyed", prompt="go")
    text = (await hub.get(f"/projects/{pid}/flow")).text
    assert secret not in text and "quiet" not in text
    assert 'env = { OPENAI_API_KEY = "", MODE = "" }' in text and "values are set on the hub" in text
    again = await apply(hub, text, project_id=pid)
    assert again.status_code == 200, again.text
    assert not again.json()["changed"]
    template = (await hub.get("/agent-templates/keyed")).json()
    assert template["env"] == {"OPENAI_API_KEY": secret, "MODE": "quiet"}
    # a value written in the file is still compared: a different one is the same conflict as before
    changed = text.replace('MODE = ""', 'MODE = "loud"')
    refused = await apply(hub, changed, project_id=pid)
    assert refused.status_code == 409 and "env" in refused.json()["error"]["message"], refused.text
