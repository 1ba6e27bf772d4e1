"""Each template's CLI is looked for at start and on demand, with its --version."""

from __future__ import annotations

import httpx
from conftest import HubClient


async def test_health_and_templates_report_each_cli(hub: HubClient) -> None:
    reports = (await hub.post("/agent-templates/check")).json()["availability"]
    assert reports["claude-code"]["available"] is True
    assert reports["claude-code"]["version"] == "fake-agent 1.0 replaying claude-tool.jsonl"
    health = (await hub.get("/health")).json()
    assert health["agents"]["codex"] == {"available": True, "version": "fake-agent 1.0 replaying codex-tool.jsonl"}
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        assert "agents" not in (await anonymous.get("/health")).json()  # versions only for the token holder
    templates = {t["id"]: t for t in (await hub.get("/agent-templates")).json()["agent_templates"]}
    assert templates["gemini"]["availability"]["path"] == hub.settings.gemini_bin


async def test_a_missing_cli_is_reported_before_any_launch(hub: HubClient) -> None:
    response = await hub.post("/agent-templates", {
        "id": "ghost", "name": "Ghost", "command": ["no-such-cli-anywhere", "{prompt}"], "output": "text"})
    assert response.status_code == 201
    reports = (await hub.post("/agent-templates/check")).json()["availability"]
    assert reports["ghost"]["available"] is False
    assert reports["ghost"]["error"].startswith("no-such-cli-anywhere: executable not found on PATH")
    health = (await hub.get("/health")).json()
    assert health["agents"]["ghost"]["available"] is False
