"""Statuses, node kinds and event types are defined once (orchestra/statuses.py): the hub's code, its
wire format and the browser UI all follow that module. These tests fail when a copy drifts from it."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from conftest import LiveHub
from pydantic import ValidationError

from orchestra.api import common
from orchestra.core import models
from orchestra.core.statuses import (
    FINAL_EXECUTION_STATUSES,
    UNFINISHED_EXECUTION_STATUSES,
    UNSUCCESSFUL_EXECUTION_STATUSES,
    EventType,
    ExecutionStatus,
    MessageType,
    NodeKind,
    ProjectState,
    RunStatus,
    ui_constants,
)
from orchestra.storage import events

UI = Path(__file__).resolve().parents[1] / "ui"
_EXPORT = re.compile(r"^export const ([A-Z_]+) = Object\.freeze\((.*)\);$")


def _ui_sources() -> list[Path]:
    return sorted(path for path in UI.rglob("*.js") if "vendor" not in path.parts)


def test_members_are_their_plain_strings_on_the_wire_and_in_sqlite() -> None:
    body = {"status": ExecutionStatus.TIMED_OUT, "type": EventType.EXECUTION_FINISHED, "run": RunStatus.RUNNING}
    expected = '{"status":"timed_out","type":"execution.finished","run":"running"}'
    assert common.encode(body) == events.encode(body) == expected
    assert json.loads(expected) == body  # and what clients send back compares equal
    db = sqlite3.connect(":memory:")
    stored = db.execute("SELECT ?, typeof(?)", [ExecutionStatus.WAITING, ExecutionStatus.WAITING]).fetchone()
    assert stored == ("waiting", "text") and type(stored[0]) is str
    assert f"{MessageType.HEARTBEAT}" == "heartbeat" and str(NodeKind.GATE) == "gate"


def test_the_derived_sets_partition_the_execution_statuses() -> None:
    assert UNFINISHED_EXECUTION_STATUSES | FINAL_EXECUTION_STATUSES == set(ExecutionStatus)
    assert not UNFINISHED_EXECUTION_STATUSES & FINAL_EXECUTION_STATUSES
    assert UNSUCCESSFUL_EXECUTION_STATUSES < FINAL_EXECUTION_STATUSES
    assert ExecutionStatus.SUCCEEDED not in UNSUCCESSFUL_EXECUTION_STATUSES
    assert ExecutionStatus.SKIPPED not in UNSUCCESSFUL_EXECUTION_STATUSES


def test_request_models_accept_exactly_the_node_kinds() -> None:
    # One type: the request models take statuses.NodeKind itself, given as its text (JSON or a flow file).
    for kind in NodeKind:
        assert models.NodeCreate.model_validate_json(f'{{"title": "t", "kind": "{kind}"}}').kind is kind
        assert models.NodeCreate.model_validate({"title": "t", "kind": str(kind)}).kind is kind
    with pytest.raises(ValidationError, match="'agent', 'gate', 'plan' or 'land'"):
        models.NodeCreate.model_validate_json('{"title": "t", "kind": "robot"}')


async def test_the_ui_loads_the_hubs_statuses_without_a_token(hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as anonymous:
        response = await anonymous.get("/ui/statuses.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    served = {}
    for line in response.text.splitlines():
        match = _EXPORT.match(line)
        if match:
            served[match[1]] = json.loads(match[2])
    assert served == json.loads(json.dumps(ui_constants()))
    # Spelled out from the enums, not from ui_constants: what the UI imports is what the hub uses.
    assert served["RUN_STATUS"] == {member.name: member.value for member in RunStatus}
    assert served["EXECUTION_STATUS"] == {member.name: member.value for member in ExecutionStatus}
    assert served["EVENT_TYPE"] == {member.name: member.value for member in EventType}
    assert served["MESSAGE_TYPE"] == {member.name: member.value for member in MessageType}
    assert served["PROJECT_STATE"] == {member.name: member.value for member in ProjectState}
    assert list(served["EXECUTION_STATUS"].values()) == list(ExecutionStatus)  # the legend's order
    assert set(served["UNFINISHED_EXECUTION_STATUSES"]) == UNFINISHED_EXECUTION_STATUSES
    assert set(served["UNSUCCESSFUL_EXECUTION_STATUSES"]) == UNSUCCESSFUL_EXECUTION_STATUSES
    assert not (UI / "statuses.js").exists()  # no copy on disk to fall out of date


def test_the_ui_imports_every_status_and_event_type_and_spells_none() -> None:
    """A status or event type written out in the UI's code is a copy that can drift: the UI takes
    them from ./statuses.js (the names of EXECUTION_STATUS, EVENT_TYPE, ...). Node kinds and the
    project state 'idle' are left out: 'agent' and 'idle' also name other things there."""
    values = {*RunStatus, *ExecutionStatus, *EventType, *MessageType}
    alternatives = "|".join(re.escape(value) for value in values)
    literal = re.compile(r"""(['"`])(""" + alternatives + r""")\1""")
    found = []
    for path in _ui_sources():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = re.sub(r"(^|\s)//.*$", "", line)  # comments may name statuses
            if code.lstrip().startswith("*"):
                continue
            found += [f"{path.relative_to(UI)}:{number}: {match[0]}" for match in literal.finditer(code)]
    assert not found, "status or event type literals in the UI (import them from statuses.js):\n" + "\n".join(found)
    importing = [path.name for path in _ui_sources() if "statuses.js'" in path.read_text()]
    assert {"state.js", "format.js", "dag-view.js", "dag-canvas.js"} <= set(importing)


def test_the_ui_has_colours_for_every_execution_status() -> None:
    css = (UI / "style.css").read_text()
    missing = [f"{name} for {status}" for status in ExecutionStatus
               for name in (f"--{status}:", f"--{status}-fill:", f".status-{status} ")
               if name not in css]
    assert not missing, missing
