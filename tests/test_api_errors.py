"""The one error shape, for every kind of bad request, and the proof that a refused request wrote nothing.

``assert_error`` and ``unchanged`` are shared by the other ``test_api_*`` files.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from conftest import LiveHub

DROP = object()  # a field to leave out of the request body
TABLES = ("projects", "nodes", "edges", "agent_templates", "runs", "executions", "events")


async def dump(hub: LiveHub) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a request can touch, in a stable order."""

    def read(db: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in TABLES}

    return await hub.running.hub.db.read(read)


@asynccontextmanager
async def unchanged(hub: LiveHub) -> AsyncIterator[None]:
    """Assert that nothing inside the block changed a single row."""
    before = await dump(hub)
    yield
    assert await dump(hub) == before


def assert_error(response: httpx.Response, status: int, code: str, *named: str) -> dict[str, Any]:
    """The response is the one error body with this status and code, its message naming each of ``named``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    for name in named:
        assert name in error["message"], (name, error["message"])
    return error


@pytest.fixture
async def seeded(hub: LiveHub) -> str:
    """A project with nodes a <- b, so every route has something real to refuse to change."""
    pid = (await hub.create_project(name="seeded"))["id"]
    await hub.create_node(pid, id="a")
    await hub.create_node(pid, id="b", depends_on=["a"])
    return pid


def body_routes(pid: str) -> list[tuple[str, str]]:
    return [("POST", "/projects"), ("PATCH", f"/projects/{pid}"), ("POST", f"/projects/{pid}/nodes"),
            ("PATCH", f"/projects/{pid}/nodes/a"), ("POST", "/agent-templates"), ("POST", "/launch")]


@pytest.mark.parametrize(
    ("content", "status", "code", "named"),
    [
        (b'{"name": ', 400, "bad_request", "malformed JSON"),
        (b"{'name': 'x'}", 400, "bad_request", "malformed JSON"),
        (b"", 400, "bad_request", "empty"),
        (b"   \n", 400, "bad_request", "empty"),
        (b"[]", 422, "validation_error", "JSON object"),
        (b'["name"]', 422, "validation_error", "JSON object"),
        (b'"name"', 422, "validation_error", "JSON object"),
        (b"3", 422, "validation_error", "JSON object"),
        (b"null", 422, "validation_error", "JSON object"),
    ],
)
async def test_body_that_is_not_a_json_object(
    hub: LiveHub, seeded: str, content: bytes, status: int, code: str, named: str
) -> None:
    async with unchanged(hub):
        for method, path in body_routes(seeded):
            response = await hub.http.request(method, path, content=content,
                                              headers={"Content-Type": "application/json"})
            assert_error(response, status, code, named)


async def test_unknown_field_is_named(hub: LiveHub, seeded: str) -> None:
    node = {"title": "t", "prompt": "p", "agent": "claude-code"}
    template = {"id": "mine", "name": "Mine", "command": ["mine", "{prompt}"], "output": "text"}
    cases = [
        ("POST", "/projects", {"name": "p", "colour": "red"}),
        ("PATCH", f"/projects/{seeded}", {"colour": "red"}),
        ("POST", f"/projects/{seeded}/nodes", node | {"colour": "red"}),
        ("POST", f"/projects/{seeded}/nodes", node | {"position": {"x": 1, "y": 2, "colour": "red"}}),
        ("PATCH", f"/projects/{seeded}/nodes/a", {"colour": "red"}),
        ("POST", "/agent-templates", template | {"colour": "red"}),
        ("POST", "/launch", {"project_id": seeded, "colour": "red"}),
    ]
    async with unchanged(hub):
        for method, path, body in cases:
            error = assert_error(await hub.http.request(method, path, json=body), 422, "validation_error",
                                 "colour")
            assert error["details"][0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("projects", {"name": 5}, "'name'"),
        ("projects", {"name": ""}, "'name'"),
        ("projects", {"name": "p", "max_parallel": "3"}, "'max_parallel'"),
        ("projects", {"name": "p", "max_parallel": 0}, "'max_parallel'"),
        ("projects", {"name": "p", "workspace": ["w"]}, "'workspace'"),
        ("projects", {"name": DROP, "description": "no name"}, "'name'"),
        ("project", {"name": 5}, "'name'"),
        ("nodes", {"retries": "3"}, "'retries'"),
        ("nodes", {"retries": 11}, "'retries'"),
        ("nodes", {"retries": 1.5}, "'retries'"),
        ("nodes", {"depends_on": "a"}, "'depends_on'"),
        ("nodes", {"depends_on": [1]}, "'depends_on.0'"),
        ("nodes", {"timeout_s": "60"}, "'timeout_s'"),
        ("nodes", {"timeout_s": -1}, "'timeout_s'"),
        ("nodes", {"title": 5}, "'title'"),
        ("nodes", {"prompt": None}, "'prompt'"),
        ("nodes", {"id": "has space"}, "'id'"),
        ("nodes", {"position": {"x": "1", "y": 2}}, "'position.x'"),
        ("nodes", {"position": [1, 2]}, "'position'"),
        ("node", {"retries": "3"}, "'retries'"),
        ("node", {"depends_on": "a"}, "'depends_on'"),
        ("node", {"agent": 7}, "'agent'"),
        ("templates", {"command": "mine {prompt}"}, "'command'"),
        ("templates", {"command": []}, "'command'"),
        ("templates", {"output": "yaml"}, "'output'"),
        ("templates", {"env": {"A": 1}}, "'env.A'"),
        ("launch", {"node_ids": "a"}, "'node_ids'"),
        ("launch", {"project_id": 5}, "'project_id'"),
    ],
)
async def test_wrong_type_or_value_is_422_naming_the_field(
    hub: LiveHub, seeded: str, route: str, body: dict[str, Any], field: str
) -> None:
    method, path, base = {
        "projects": ("POST", "/projects", {"name": "p"}),
        "project": ("PATCH", f"/projects/{seeded}", {}),
        "nodes": ("POST", f"/projects/{seeded}/nodes", {"title": "t", "prompt": "p", "agent": "claude-code"}),
        "node": ("PATCH", f"/projects/{seeded}/nodes/a", {}),
        "templates": ("POST", "/agent-templates",
                      {"id": "mine", "name": "Mine", "command": ["mine", "{prompt}"], "output": "text"}),
        "launch": ("POST", "/launch", {"project_id": seeded}),
    }[route]
    payload = {k: v for k, v in (base | body).items() if v is not DROP}
    async with unchanged(hub):
        error = assert_error(await hub.http.request(method, path, json=payload), 422, "validation_error", field)
    assert [".".join(map(str, d["loc"])) for d in error["details"]] == [field.strip("'")]


async def test_oversized_body_is_413(hub: LiveHub, seeded: str) -> None:
    big = "x" * (hub.settings.max_body_bytes + 1)
    async with unchanged(hub):
        response = await hub.post(f"/projects/{seeded}/nodes", {"title": "t", "prompt": big, "agent": "claude-code"})
        assert_error(response, 413, "payload_too_large", str(hub.settings.max_body_bytes))
        response = await hub.patch(f"/projects/{seeded}/nodes/a", {"prompt": big})
        assert_error(response, 413, "payload_too_large")
        response = await hub.post("/projects", {"name": "p", "description": big})
        assert_error(response, 413, "payload_too_large")


def every_route(pid: str) -> list[tuple[str, str, Any]]:
    """Each route but /health, with a body that would succeed with the token."""
    node = {"title": "t", "prompt": "p", "agent": "claude-code"}
    template = {"id": "mine", "name": "Mine", "command": ["mine", "{prompt}"], "output": "text"}
    return [
        ("GET", "/projects", None), ("POST", "/projects", {"name": "p"}),
        ("GET", f"/projects/{pid}", None), ("PATCH", f"/projects/{pid}", {"name": "renamed"}),
        ("DELETE", f"/projects/{pid}", None),
        ("GET", f"/projects/{pid}/nodes", None), ("POST", f"/projects/{pid}/nodes", node),
        ("GET", f"/projects/{pid}/nodes/a", None), ("PATCH", f"/projects/{pid}/nodes/a", {"title": "x"}),
        ("DELETE", f"/projects/{pid}/nodes/b", None),
        ("GET", "/agent-templates", None), ("POST", "/agent-templates", template),
        ("GET", "/agent-templates/codex", None), ("DELETE", "/agent-templates/codex", None),
        ("POST", "/launch", {"project_id": pid}),
        ("GET", "/runs", None), ("GET", "/runs/run_x", None), ("POST", "/runs/run_x/cancel", None),
        ("GET", "/executions", None), ("GET", "/executions/exe_x", None),
        ("GET", "/executions/exe_x/events", None), ("POST", "/executions/exe_x/cancel", None),
        ("GET", "/nope", None),
    ]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "test-token-0123456789abcdef"},
     {"Authorization": "Basic dGVzdDp0ZXN0"}, {"Authorization": "Bearer"}],
    ids=["missing", "wrong", "no-scheme", "basic", "empty"],
)
async def test_every_route_needs_the_token(hub: LiveHub, seeded: str, headers: dict[str, str]) -> None:
    async with unchanged(hub), httpx.AsyncClient(base_url=hub.url, headers=headers) as anonymous:
        for method, path, body in every_route(seeded):
            response = await anonymous.request(method, path, json=body)
            assert_error(response, 401, "unauthorized", "token")
        health = await anonymous.get("/health")
        assert health.status_code == 200, health.text


async def test_token_works_on_every_route(hub: LiveHub, seeded: str) -> None:
    """The same requests with the token are not refused as unauthorized (the 401s above are real)."""
    for method, path, body in every_route(seeded):
        response = await hub.http.request(method, path, json=body)
        assert response.status_code != 401, (method, path, response.text)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("POST", "/projects/x/y/z"), ("GET", "/agent-templates/codex/extra")],
)
async def test_unknown_route_is_404_json(hub: LiveHub, method: str, path: str) -> None:
    assert_error(await hub.http.request(method, path), 404, "not_found", path)


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/agent-templates"), ("PUT", "/projects"), ("PATCH", "/agent-templates/codex"),
     ("POST", "/executions"), ("DELETE", "/runs"), ("POST", "/health")],
)
async def test_wrong_method_is_405_json(hub: LiveHub, method: str, path: str) -> None:
    async with unchanged(hub):
        assert_error(await hub.http.request(method, path), 405, "method_not_allowed", method, path)


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/executions", {"limit": "abc"}, "'limit'"),
        ("/executions", {"limit": "0"}, "'limit'"),
        ("/executions", {"limit": "-5"}, "'limit'"),
        ("/executions", {"limit": "501"}, "'limit'"),
        ("/executions", {"limit": "1.5"}, "'limit'"),
        ("/executions", {"status": "bogus"}, "status"),
        ("/executions", {"before": "exe_missing"}, "exe_missing"),
        ("/executions/exe_x/events", {"after": "-1"}, "'after'"),
        ("/executions/exe_x/events", {"limit": "0"}, "'limit'"),
        ("/runs", {"limit": "abc"}, "'limit'"),
        ("/runs", {"limit": "0"}, "'limit'"),
    ],
)
async def test_bad_query_parameter_is_422(hub: LiveHub, path: str, params: dict[str, str], named: str) -> None:
    error = assert_error(await hub.get(path, params=params), 422, "validation_error", named)
    assert error["details"]["field"] == next(iter(params))
