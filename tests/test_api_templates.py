"""``/agent-templates``: the three built-ins and the user's own, which are data and checked as such."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import LiveHub
from test_api_errors import assert_error, unchanged

MINE: dict[str, Any] = {
    "id": "mine", "name": "My CLI", "command": ["/opt/mine/bin/agent", "--ask", "{prompt}", "-m", "{model}",
                                                "--cwd={workspace}"],
    "output": "text", "default_model": "small", "env": {"MINE_MODE": "fast"},
}


async def test_builtins_are_listed_and_readable(hub: LiveHub) -> None:
    listed = (await hub.get("/agent-templates")).json()["agent_templates"]
    assert [t["id"] for t in listed] == ["claude-code", "codex", "gemini", "demo"]
    outputs = {t["id"]: t["output"] for t in listed}
    assert outputs == {"claude-code": "claude-stream-json", "codex": "codex-json", "gemini": "gemini-stream-json",
                       "demo": "claude-stream-json"}  # the demo agent speaks Claude Code's stream-json
    for template in listed:
        assert template["builtin"] is True
        assert "{prompt}" in template["command"]
        assert (await hub.get(f"/agent-templates/{template['id']}")).json().items() <= template.items()
    bins = {t["id"]: t["command"][0] for t in listed}
    assert bins == {"claude-code": hub.settings.claude_bin, "codex": hub.settings.codex_bin,
                    "gemini": hub.settings.gemini_bin, "demo": sys.executable}


async def test_user_template_lifecycle(hub: LiveHub) -> None:
    response = await hub.post("/agent-templates", MINE)
    assert response.status_code == 201, response.text
    created = response.json()
    assert {k: created[k] for k in MINE} == MINE
    assert created["builtin"] is False
    listed = (await hub.get("/agent-templates")).json()["agent_templates"]
    assert [t["id"] for t in listed] == ["claude-code", "codex", "gemini", "demo", "mine"]
    assert created.items() <= listed[-1].items()  # the list may add more (availability)
    assert (await hub.get("/agent-templates/mine")).json() == created

    pid = (await hub.create_project())["id"]
    await hub.create_node(pid, id="uses-it", agent="mine")
    async with unchanged(hub):
        error = assert_error(await hub.delete("/agent-templates/mine"), 409, "conflict", "'mine'",
                             f"{pid}/uses-it")
        assert error["details"] == {"nodes": [f"{pid}/uses-it"]}
    assert (await hub.patch(f"/projects/{pid}/nodes/uses-it", {"agent": "codex"})).status_code == 200
    response = await hub.delete("/agent-templates/mine")
    assert (response.status_code, response.content) == (204, b"")
    assert_error(await hub.get("/agent-templates/mine"), 404, "not_found", "'mine'")
    assert_error(await hub.delete("/agent-templates/mine"), 404, "not_found", "'mine'")
    # the id is free again
    assert (await hub.post("/agent-templates", MINE)).status_code == 201


@pytest.mark.parametrize("template_id", ["claude-code", "codex", "gemini", "mine"])
async def test_duplicate_template_id_is_409(hub: LiveHub, template_id: str) -> None:
    assert (await hub.post("/agent-templates", MINE)).status_code == 201
    async with unchanged(hub):
        error = assert_error(await hub.post("/agent-templates", MINE | {"id": template_id}), 409, "conflict",
                             f"'{template_id}'", "already exists")
        assert error["details"] == {"field": "id"}
    assert (await hub.get("/agent-templates/codex")).json()["builtin"] is True


@pytest.mark.parametrize("template_id", ["claude-code", "codex", "gemini", "demo"])
async def test_deleting_a_builtin_is_409(hub: LiveHub, template_id: str) -> None:
    async with unchanged(hub):
        assert_error(await hub.delete(f"/agent-templates/{template_id}"), 409, "conflict", f"'{template_id}'",
                     "built in")
    assert (await hub.get(f"/agent-templates/{template_id}")).status_code == 200


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["agent", "{prompt}", "{temperature}"], "{temperature}"),
        (["agent", "--x={foo}", "{prompt}"], "{foo}"),
        (["agent", "{PROMPT}"], "{PROMPT}"),
    ],
)
async def test_unknown_placeholder_is_422(hub: LiveHub, command: list[str], named: str) -> None:
    async with unchanged(hub):
        error = assert_error(await hub.post("/agent-templates", MINE | {"command": command}), 422,
                             "validation_error", named, "placeholder")
        assert error["details"] == {"field": "command"}


@pytest.mark.parametrize(
    "program", ["./agent", "bin/agent", "../agent", "{prompt}", "{model}", "", "  ", "~/bin/agent", "-v", "..", ".",
                "claude -p", " agent", "/opt/bin/"],
)
async def test_command_zero_must_be_an_executable_name_or_absolute_path(hub: LiveHub, program: str) -> None:
    async with unchanged(hub):
        error = assert_error(await hub.post("/agent-templates", MINE | {"command": [program, "{prompt}"]}), 422,
                             "validation_error", "command[0]")
        assert error["details"] == {"field": "command"}


async def test_command_must_pass_the_prompt_as_one_argument(hub: LiveHub) -> None:
    async with unchanged(hub):
        for command in (["agent"], ["agent", "--prompt={prompt}"], ["agent", "{model}"]):
            response = await hub.post("/agent-templates", MINE | {"command": command})
            assert_error(response, 422, "validation_error", "{prompt}")


@pytest.mark.parametrize("program", ["agent", "/usr/local/bin/agent", "my-agent_2.1"])
async def test_good_program_names_are_accepted(hub: LiveHub, program: str) -> None:
    response = await hub.post("/agent-templates", MINE | {"command": [program, "{prompt}"]})
    assert response.status_code == 201, response.text
    assert response.json()["command"] == [program, "{prompt}"]
