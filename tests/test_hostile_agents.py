"""Hostile agents on a real hub: NUL bytes, results too long for one argument, processes that leave
their group, and the read slot a cancelled read must not keep. One bad execution fails alone."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import trio
from conftest import FakeAgents, LiveHub

from benchmarks import procfs
from orchestra.storage.db import Database

PRINT_NUL = "import sys; sys.stdout.buffer.write(b'before\\x00nul\\x00after\\n')"
# Prints ~70,000 characters on one line: two of these as upstream results make a prompt over 128 KiB.
PRINT_LONG = "import sys; sys.stdout.write('{tag}' * 7000 + '\\n')"


async def add_script_template(hub: LiveHub, template_id: str, code: str) -> None:
    response = await hub.post("/agent-templates", {"id": template_id, "name": template_id, "output": "text",
                                                   "command": [sys.executable, "-c", code, "{prompt}"]})
    assert response.status_code == 201, response.text


def outputs(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["output"] for e in events if e["type"] == "execution.output" and e["output"]["kind"] == kind]


async def test_a_nul_byte_in_an_upstream_result_fails_nothing(hub: LiveHub, agents: FakeAgents) -> None:
    await add_script_template(hub, "nul-printer", PRINT_NUL)
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="nul-printer")
    await hub.create_node(project["id"], id="b", prompt="use it", depends_on=["a"])
    await hub.create_node(project["id"], id="c", prompt="@sleep=0.5")  # unrelated, still running meanwhile
    run = await hub.wait_run(await hub.launch(project["id"]))

    by_node = {e["node_id"]: e for e in run["executions"]}
    assert {n: e["status"] for n, e in by_node.items()} == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
    assert run["status"] == "succeeded"
    assert by_node["a"]["result_text"] == "before\x00nul\x00after"  # stored as printed
    b = (await hub.get(f"/executions/{by_node['b']['id']}")).json()
    assert "beforenulafter" in b["prompt"] and "\x00" not in b["prompt"]
    notes = [o.get("message", "") for o in outputs(await hub.events(b["id"]), "system")]
    assert any("removed 2 NUL character(s)" in note for note in notes), notes
    (record,) = [r for r in agents.recorded() if r["prompt"].startswith("use it")]
    assert "beforenulafter" in record["prompt"]


async def test_a_prompt_too_long_for_one_argument_goes_on_stdin(hub: LiveHub, agents: FakeAgents) -> None:
    await add_script_template(hub, "long-x", PRINT_LONG.format(tag="xxxxxxxxxx"))
    await add_script_template(hub, "long-y", PRINT_LONG.format(tag="yyyyyyyyyy"))
    project = await hub.create_project()
    await hub.create_node(project["id"], id="x", agent="long-x")
    await hub.create_node(project["id"], id="y", agent="long-y")
    await hub.create_node(project["id"], id="join", prompt="@result=joined", depends_on=["x", "y"])
    run = await hub.wait_run(await hub.launch(project["id"]))
    assert run["status"] == "succeeded", run

    join = (await hub.get(f"/executions/{run['executions'][2]['id']}")).json()
    assert len(join["prompt"].encode()) > 131_072
    (record,) = agents.recorded()
    assert record["prompt_on_stdin"] is True
    assert record["prompt"] == join["prompt"]  # whole, byte for byte
    assert join["prompt"] not in join["argv"] and "-p" in join["argv"]  # `claude -p` without a prompt argument


async def test_a_template_that_cannot_take_stdin_fails_clearly_on_a_long_prompt(hub: LiveHub) -> None:
    await add_script_template(hub, "long-x", PRINT_LONG.format(tag="xxxxxxxxxx"))
    await add_script_template(hub, "long-y", PRINT_LONG.format(tag="yyyyyyyyyy"))
    await add_script_template(hub, "echo", "print('never runs')")
    project = await hub.create_project()
    await hub.create_node(project["id"], id="x", agent="long-x")
    await hub.create_node(project["id"], id="y", agent="long-y")
    await hub.create_node(project["id"], id="join", prompt="join", agent="echo", depends_on=["x", "y"])
    run = await hub.wait_run(await hub.launch(project["id"]))
    join = next(e for e in run["executions"] if e["node_id"] == "join")
    assert join["status"] == "failed"
    assert "over Linux's 131,072-byte limit" in join["error"] and "'echo' cannot take the prompt on stdin" in join[
        "error"]


async def test_a_process_that_left_the_group_is_ended_on_cancel(hub: LiveHub, agents: FakeAgents) -> None:
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", prompt="@setsid-child @hang")
    run = await hub.launch(project["id"])
    execution_id = run["executions"][0]["id"]
    # The fake agent records its escapee before it prints: once output is stored, the record has it.
    await hub.wait_for(project["id"], lambda events: outputs(events, "text"), lambda: hub.events(execution_id))
    (record,) = agents.recorded()
    escapee = record["setsid_child_pid"]
    assert os.getsid(escapee) == escapee  # it really left the agent's session and group
    assert (await hub.post(f"/executions/{execution_id}/cancel")).status_code == 202
    assert (await hub.wait_execution(execution_id, {"cancelled"}))["status"] == "cancelled"
    assert not procfs.alive(escapee)


async def test_the_database_files_are_private(hub: LiveHub) -> None:
    await hub.create_project()  # something written: the WAL exists
    path = hub.settings.database_path
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


async def test_a_cancelled_read_frees_the_read_slot_at_once(tmp_path: Path) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    async with Database.open(tmp_path / "orchestra.db") as database:
        with trio.move_on_after(0.2):
            await database.read(lambda db: db.execute(endless).fetchone())
        with trio.fail_after(5):  # before: the endless query kept the only read slot forever
            assert await database.read(lambda db: db.execute("SELECT 42").fetchone()) == (42,)
        connections = [target for target in procfs.fd_targets() if target == str(tmp_path / "orchestra.db")]
        assert len(connections) == 2  # the writer's and the one reader's, whatever threads ran the reads


async def test_nan_in_agent_output_is_kept_raw_never_served_as_a_number(hub: LiveHub) -> None:
    code = ("print('{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"id\":\"t\","
            "\"name\":\"Bash\",\"input\":{\"a\":NaN,\"b\":1e400}}]}}')")
    response = await hub.post("/agent-templates", {"id": "nan", "name": "nan", "output": "claude-stream-json",
                                                   "command": [sys.executable, "-c", code, "{prompt}"]})
    assert response.status_code == 201, response.text
    project = await hub.create_project()
    await hub.create_node(project["id"], id="a", agent="nan")
    run = await hub.wait_run(await hub.launch(project["id"]))
    response = await hub.get(f"/executions/{run['executions'][0]['id']}/events", params={"limit": 100})

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} served as a JSON number")

    events = json.loads(response.text, parse_constant=refuse)["events"]
    (raw,) = outputs(events, "raw")
    assert '"a":NaN' in raw["line"]
    assert not outputs(events, "tool_use")


async def test_a_user_template_may_take_long_prompts_on_stdin(hub: LiveHub) -> None:
    await add_script_template(hub, "long-x", PRINT_LONG.format(tag="xxxxxxxxxx"))
    await add_script_template(hub, "long-y", PRINT_LONG.format(tag="yyyyyyyyyy"))
    count = "import sys; assert sys.argv[1] == '-'; print(len(sys.stdin.read()))"
    response = await hub.post("/agent-templates", {
        "id": "counter", "name": "counter", "output": "text", "stdin_prompt": {"argument": "-"},
        "command": [sys.executable, "-c", count, "{prompt}"]})
    assert response.status_code == 201, response.text
    assert response.json()["stdin_prompt"] == {"argument": "-"}
    project = await hub.create_project()
    await hub.create_node(project["id"], id="x", agent="long-x")
    await hub.create_node(project["id"], id="y", agent="long-y")
    await hub.create_node(project["id"], id="join", prompt="join", agent="counter", depends_on=["x", "y"])
    run = await hub.wait_run(await hub.launch(project["id"]))
    join = (await hub.get(f"/executions/{run['executions'][2]['id']}")).json()
    assert join["status"] == "succeeded", join
    assert join["result_text"] == str(len(join["prompt"])) and len(join["prompt"]) > 131_072


async def test_a_read_cancelled_while_waiting_for_the_slot_interrupts_nothing(tmp_path: Path) -> None:
    # started() runs once the query is under way: the cancelled read below comes while it runs.
    count = ("WITH RECURSIVE n(i) AS (SELECT started() UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
             "SELECT count(*) FROM n")
    running = trio.Event()

    def started() -> int:
        trio.from_thread.run_sync(running.set)
        return 1

    def long_read(db: Any) -> int:
        db.conn.create_function("started", 0, started)
        return int(db.execute(count).fetchone()[0])

    async with Database.open(tmp_path / "orchestra.db") as database, trio.open_nursery() as nursery:
        results: list[int] = []

        async def first() -> None:
            results.append(await database.read(long_read))

        nursery.start_soon(first)
        await running.wait()
        with trio.move_on_after(0):  # cancelled while it waits for the slot the long read holds
            await database.read(lambda db: db.execute("SELECT 1").fetchone())
    assert results == [3_000_000]  # before: the cancelled waiter interrupted the running query
