"""Every status, node kind and event type the hub stores or sends, defined once.

The members are :class:`enum.StrEnum`: to everything else they are their plain string value (they
compare equal to it, hash like it, JSON-encode and are stored by SQLite as it), so the wire format
and the database hold the same text as before. Rows read back from SQLite carry plain strings; they
compare equal to the members.

The sets the code decides by (final, unfinished, ...) are derived here too, so adding a status is a
change to this module plus whatever genuinely has to know what the new status means. The browser UI
gets all of it from ``GET /ui/statuses.js`` (:func:`ui_module`, served by ``orchestra.api.static``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar


class RunStatus(StrEnum):
    """A run is ``running`` from its launch until it ends; nothing stores a queued run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ExecutionStatus(StrEnum):
    """``queued -> running -> (final)`` for an agent, ``queued -> waiting -> (final)`` for a gate;
    ``skipped`` when an upstream node of its run did not succeed. ``running -> parked -> running``
    when the agent's CLI hit a usage or rate limit: it waits for ``resume_at`` (orchestra/runtime/parking.py)."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # a gate waiting for a person's decision
    PARKED = "parked"  # hit a usage/rate limit: goes on at resume_at; holds its downstream, not a failure
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"  # the hub stopped or its project actor failed while it ran
    LOST = "lost"  # the machine it ran on (a Ray worker) went away; never re-run
    SKIPPED = "skipped"


class NodeKind(StrEnum):
    """What a node does when it runs (``kind`` of a node): the API's models take this same type."""

    AGENT = "agent"
    GATE = "gate"  # runs no agent: waits for approve or reject
    PLAN = "plan"  # its agent answers a task list, which becomes nodes of its run (orchestra/runtime/plans.py)
    LAND = "land"  # runs no agent: lands its upstream's work (merge, push, pull request; orchestra/runtime/landing.py)


class CancelStatus(StrEnum):
    """The ``status`` a cancel request replies with: the cancellation is under way (the run's or the
    execution's own status says when it has ended)."""

    CANCELLING = "cancelling"


class ProcessEnd(StrEnum):
    """How an agent's process ended as its executor saw it (``kind`` of an executor's
    :class:`~orchestra.executors.spec.ProcessExit`); a cancelled one raises instead."""

    EXITED = "exited"  # it exited with a code: the agent's own doing
    LOST = "lost"  # the machine or engine under it went away: the execution is lost, never re-run


class ProjectState(StrEnum):
    """A project's state at a glance (``state`` of a project), from its last run."""

    RUNNING = "running"
    FAILED = "failed"
    IDLE = "idle"


class EventType(StrEnum):
    """The ``type`` of a stored project event (each has a per-project ``seq``)."""

    NODE_CREATED = "node.created"
    NODE_UPDATED = "node.updated"
    NODE_DELETED = "node.deleted"
    RUN_STARTED = "run.started"
    RUN_FINISHED = "run.finished"
    RUN_LANDED = "run.landed"  # its work landed (merged, pushed, a pull request): the run with its ``landed``
    EXECUTION_QUEUED = "execution.queued"
    EXECUTION_STARTED = "execution.started"
    EXECUTION_OUTPUT = "execution.output"
    EXECUTION_FINISHED = "execution.finished"
    EXECUTION_PARKED = "execution.parked"  # hit a usage/rate limit: waits until its resume_at
    CHECK_STARTED = "check.started"  # a node's check (orchestra/runtime/checks.py) started after its agent
    CHECK_FINISHED = "check.finished"  # ... and how it ended: exit code, output tail


class HubEventType(StrEnum):
    """The ``type`` of a stored event of the hub feed (``/ws/hub``; each has a hub-wide ``seq``): what a
    list of every project needs to stay current. Its run events say the same as the project's own."""

    PROJECT_CREATED = "project.created"
    PROJECT_UPDATED = "project.updated"
    PROJECT_DELETED = "project.deleted"
    RUN_STARTED = EventType.RUN_STARTED.value
    RUN_FINISHED = EventType.RUN_FINISHED.value
    # Something started or stopped waiting for a person (orchestra/storage/attention.py): ``added`` or
    # ``removed`` names the item; clients keep their GET /attention list current with it.
    ATTENTION_CHANGED = "attention.changed"


class AttentionKind(StrEnum):
    """The ``kind`` of an item of ``GET /attention``: what waits for a person."""

    GATE = "gate"  # a gate node waiting for approve or reject
    PICK = "pick"  # a best-of-N node waiting for a person to pick a candidate
    PLAN_REVIEW = "plan_review"  # a plan node's task list waiting for its review
    PARKED = "parked"  # an execution parked at a usage limit, until its resume_at
    FAILED_RUN = "failed_run"  # a run that failed and has not been marked seen


class RunScope(StrEnum):
    """What a run launched (``scope`` of a run): the whole DAG, chosen nodes and what is below them,
    or a follow-up turn of one execution. (Who launched it is its ``trigger``: a webhook, a schedule.)"""

    ALL = "all"
    NODES = "nodes"
    FOLLOW_UP = "follow_up"


class MessageType(StrEnum):
    """The ``type`` of the WebSocket messages that are not stored events."""

    SNAPSHOT = "snapshot"  # the project as it is now, sent first to a subscriber without ``since``
    HEARTBEAT = "heartbeat"  # sent on an idle connection, with the last ``seq`` sent


# -- derived sets -----------------------------------------------------------------------------------

UNFINISHED_RUN_STATUSES = frozenset({RunStatus.RUNNING})
FINAL_RUN_STATUSES = frozenset(RunStatus) - UNFINISHED_RUN_STATUSES

# Queued, running, a gate waiting, or parked at a limit: an execution that has not ended (recovery looks
# for these).
UNFINISHED_EXECUTION_STATUSES = frozenset({ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.WAITING,
                                           ExecutionStatus.PARKED})
# Executions that run no process while they wait, and so survive a hub restart with their run.
HELD_EXECUTION_STATUSES = frozenset({ExecutionStatus.WAITING, ExecutionStatus.PARKED})
# Which of a node's executions it shows when runs overlap: one at work (running, a gate waiting, parked at a
# limit) first, then one queued, then the newest that ended; the newest first within each. A node is never
# shown "cancelled" while another run still has it running (the API's snapshot, the UI and the terminal agree).
SHOWN_FIRST_EXECUTION_STATUSES = (ExecutionStatus.RUNNING, ExecutionStatus.WAITING, ExecutionStatus.PARKED)
FINAL_EXECUTION_STATUSES = frozenset(ExecutionStatus) - UNFINISHED_EXECUTION_STATUSES


def shown_rank(status: str) -> int:
    """0 at work, 1 queued, 2 ended: a node shows its execution of the lowest rank, the newest among them."""
    return 0 if status in SHOWN_FIRST_EXECUTION_STATUSES else 1 if status in UNFINISHED_EXECUTION_STATUSES else 2
# Ended without succeeding, of its own (a skipped execution never ran): such a node fails its run,
# and the UI offers to run it again.
UNSUCCESSFUL_EXECUTION_STATUSES = FINAL_EXECUTION_STATUSES - {ExecutionStatus.SUCCEEDED, ExecutionStatus.SKIPPED}
# The endings a node's ``retries`` apply to.
RETRIED_EXECUTION_STATUSES = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT})

NODE_EVENT_TYPES = frozenset({EventType.NODE_CREATED, EventType.NODE_UPDATED, EventType.NODE_DELETED})
# The events that carry an execution's summary (``execution``) after a change of its row.
EXECUTION_CHANGE_EVENT_TYPES = frozenset(
    {EventType.EXECUTION_QUEUED, EventType.EXECUTION_STARTED, EventType.EXECUTION_FINISHED,
     EventType.EXECUTION_PARKED})


_SQL_SAFE = re.compile(r"[a-z_.]+")  # over the enums' own values, never input; one class: linear
E = TypeVar("E", bound=StrEnum)


def _in_definition_order(values: Iterable[E]) -> list[E]:
    chosen = set(values)
    assert chosen, "an empty set of statuses"
    return [member for member in type(next(iter(chosen))) if member in chosen]


def sql_list(values: Iterable[StrEnum]) -> str:
    """``('a', 'b')`` for ``status IN ...`` in SQL text, in the enum's order (one statement text per
    set: SQLite's statement cache keys on it). Build it once, at import time, not per query."""
    ordered = _in_definition_order(values)
    assert all(_SQL_SAFE.fullmatch(value) for value in ordered), ordered
    return "(" + ", ".join(f"'{value}'" for value in ordered) + ")"


def _ordered(values: Iterable[StrEnum]) -> list[str]:
    return [str(value) for value in _in_definition_order(values)]


def _members(enum: type[StrEnum]) -> dict[str, str]:
    return {member.name: str(member) for member in enum}


def ui_constants() -> dict[str, object]:
    """What the browser UI needs to know, by the name it imports it under (see :func:`ui_module`):
    each enum as a map of member names to values (in definition order), and the derived sets."""
    return {
        "RUN_STATUS": _members(RunStatus),
        "EXECUTION_STATUS": _members(ExecutionStatus),
        "NODE_KIND": _members(NodeKind),
        "PROJECT_STATE": _members(ProjectState),
        "EVENT_TYPE": _members(EventType),
        "HUB_EVENT_TYPE": _members(HubEventType),
        "RUN_SCOPE": _members(RunScope),
        "ATTENTION_KIND": _members(AttentionKind),
        "MESSAGE_TYPE": _members(MessageType),
        "UNFINISHED_RUN_STATUSES": _ordered(UNFINISHED_RUN_STATUSES),
        "FINAL_RUN_STATUSES": _ordered(FINAL_RUN_STATUSES),
        "UNFINISHED_EXECUTION_STATUSES": _ordered(UNFINISHED_EXECUTION_STATUSES),
        "SHOWN_FIRST_EXECUTION_STATUSES": _ordered(SHOWN_FIRST_EXECUTION_STATUSES),
        "FINAL_EXECUTION_STATUSES": _ordered(FINAL_EXECUTION_STATUSES),
        "UNSUCCESSFUL_EXECUTION_STATUSES": _ordered(UNSUCCESSFUL_EXECUTION_STATUSES),
        "EXECUTION_CHANGE_EVENT_TYPES": _ordered(EXECUTION_CHANGE_EVENT_TYPES),
        "NODE_EVENT_TYPES": _ordered(NODE_EVENT_TYPES),
    }


def ui_module() -> str:
    """:func:`ui_constants` as an ES module, each value frozen (no component can change them)."""
    lines = ["// The hub's statuses, node kinds and event types (orchestra/core/statuses.py), served by the hub as",
             "// GET /ui/statuses.js. Generated: there is no file to edit.", ""]
    for name, value in ui_constants().items():
        lines.append(f"export const {name} = Object.freeze({json.dumps(value)});")
    return "\n".join(lines) + "\n"
