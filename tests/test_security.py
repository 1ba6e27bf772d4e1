"""Hostile input: tokens in the wrong place, foreign origins, path traversal, random bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
from conftest import TOKEN, LiveHub
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionRejected, open_websocket_url


async def test_token_in_the_query_string_is_not_accepted_by_rest(hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        response = await anonymous.get("/projects", params={"token": TOKEN})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert TOKEN not in response.text


async def test_wrong_token_never_echoes_the_token(hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url, headers={"Authorization": "Bearer " + TOKEN[:-1]}) as bad:
        response = await bad.post("/projects", json={"name": "x"})
    assert response.status_code == 401
    assert TOKEN[:-1] not in response.text
    assert (await hub.get("/projects")).json()["projects"] == []


async def test_websocket_from_a_foreign_origin_is_refused(hub: LiveHub) -> None:
    pid = (await hub.create_project())["id"]
    url = f"ws://127.0.0.1:{hub.running.port}/ws/subscribe/{pid}?token={TOKEN}"
    with pytest.raises(ConnectionRejected) as rejected:
        async with open_websocket_url(url, extra_headers=[("Origin", "http://evil.example")]):
            pass
    assert rejected.value.status_code == 403
    async with open_websocket_url(url, extra_headers=[("Origin", "http://localhost:8000")]) as ws:
        assert json.loads(await ws.get_message())["type"] == "snapshot"


async def test_cors_allows_listed_origins_only(hub: LiveHub) -> None:
    allowed = await hub.get("/projects", headers={"Origin": "http://localhost:8001"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:8001"
    denied = await hub.get("/projects", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        preflight = await anonymous.options("/projects", headers={
            "Origin": "tauri://localhost", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "tauri://localhost"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


async def test_ui_is_served_without_token_and_with_security_headers(hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        root = await anonymous.get("/")
        assert root.status_code in (301, 302, 307, 308)
        assert root.headers["Location"].endswith("/ui/")
        page = await anonymous.get("/ui/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", [
    "/ui/../orchestra/settings.py", "/ui/..%2forchestra%2fsettings.py", "/ui/%2e%2e/orchestra/settings.py",
    "/ui/%2e%2e%2forchestra%2fsettings.py", "/ui/..%5corchestra%5csettings.py", "/ui/..\\orchestra\\settings.py",
    "/ui/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/ui/index.html%00.js", "/ui//etc/passwd",
    "/ui/%252e%252e/orchestra/settings.py",
])
async def test_static_files_never_leave_ui(hub: LiveHub, path: str) -> None:
    async with httpx.AsyncClient(base_url=hub.url, follow_redirects=True) as anonymous:
        response = await anonymous.get(hub.url + path)
    assert response.status_code in (400, 401, 404), (path, response.status_code)  # 401: normalized out of /ui/
    assert "ORCHESTRA_" not in response.text
    assert "root:" not in response.text


async def _dump(hub: LiveHub) -> list[Any]:
    def read(db: Any) -> list[Any]:
        return [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("projects", "nodes", "edges", "agent_templates", "runs", "events")]
    return await hub.running.hub.db.read(read)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["name", "title", "prompt", "agent", "depends_on", "id", "command", "output",
                               "env", "retries", "timeout_s", "position", "workspace", "max_parallel",
                               "project_id", "node_ids", "model", "description", "secret", "cron", "inputs"])
bodies = st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=8))


async def test_random_bodies_never_cause_a_500_nor_harm_the_database(hub: LiveHub) -> None:
    """Whatever the body, the answer is success or a client error in the one error shape, and a
    refused request changes nothing. Hypothesis drives from a worker thread (it cannot await);
    each example's request runs on the test's event loop."""
    pid = (await hub.create_project(name="fuzz"))["id"]
    await hub.create_node(pid, id="a")

    async def send(method: str, route: str, body: Any) -> None:
        before = await _dump(hub)
        response = await hub.http.request(method, route.format(pid=pid), json=body)
        assert response.status_code < 500, (route, body, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message", "details"}
            assert "Traceback" not in response.text
            assert await _dump(hub) == before, f"a refused request changed the database: {route} {body!r}"
        if route == "/launch" and response.status_code == 202:
            await hub.wait_run(response.json())

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies, route=st.sampled_from(["/projects", "/projects/{pid}/nodes", "/agent-templates",
                                               "/launch", "/projects/{pid}", "/projects/{pid}/nodes/a",
                                               "/flows/apply", "/projects/{pid}/webhook", "/hooks/{pid}",
                                               "/projects/{pid}/schedules"]))
    def examples(body: Any, route: str) -> None:
        method = ("PATCH" if route in ("/projects/{pid}", "/projects/{pid}/nodes/a")
                  else "PUT" if route == "/projects/{pid}/webhook" else "POST")
        trio.from_thread.run(send, method, route, body)

    await trio.to_thread.run_sync(examples)
    check = await hub.running.hub.db.read(lambda db: db.execute("PRAGMA integrity_check").fetchone())
    assert check == ("ok",)
