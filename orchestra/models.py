"""Pydantic models for what clients send. Strict: unknown fields and wrong types are refused (422)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Prompt = Annotated[str, StringConstraints(max_length=200_000)]
OutputFormat = Literal["claude-stream-json", "codex-json", "gemini-stream-json", "text"]

MAX_NODES_PER_PROJECT = 2_000
MAX_DEPENDENCIES = 500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProjectCreate(Strict):
    name: Name
    description: Annotated[str, StringConstraints(max_length=20_000)] = ""
    workspace: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    max_parallel: Annotated[int, Field(ge=1, le=1024)] | None = None


class ProjectPatch(Strict):
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    workspace: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    max_parallel: Annotated[int, Field(ge=1, le=1024)] | None = None


class Position(Strict):
    x: float
    y: float


class Budget(Strict):
    """Limits on an execution (per node) or on a whole run; crossing one stops the agents: failed."""

    cost_usd: Annotated[float, Field(gt=0)] | None = None
    tokens: Annotated[int, Field(gt=0)] | None = None
    wall_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None


NodeKind = Literal["agent", "gate"]


class NodeCreate(Strict):
    id: Slug | None = None
    kind: NodeKind = "agent"
    title: Name
    prompt: Prompt = ""
    agent: Slug | None = None  # required for an agent node; a gate runs no agent
    budget: Budget | None = None
    depends_on: Annotated[list[Slug], Field(max_length=MAX_DEPENDENCIES)] = []
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None
    retries: Annotated[int, Field(ge=0, le=10)] = 0
    position: Position | None = None


class NodePatch(Strict):
    kind: NodeKind | None = None
    budget: Budget | None = None
    title: Name | None = None
    prompt: Prompt | None = None
    agent: Slug | None = None
    depends_on: Annotated[list[Slug], Field(max_length=MAX_DEPENDENCIES)] | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    position: Position | None = None


class TemplateCreate(Strict):
    id: Slug
    name: Name
    command: Annotated[list[Annotated[str, StringConstraints(max_length=10_000)]], Field(min_length=1, max_length=200)]
    output: OutputFormat
    default_model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    # How to continue a session (``{session_id}``) for follow-up turns; None: the CLI cannot resume.
    resume_command: Annotated[list[Annotated[str, StringConstraints(max_length=10_000)]],
                              Field(min_length=1, max_length=200)] | None = None
    env: Annotated[dict[str, Annotated[str, StringConstraints(max_length=10_000)]], Field(max_length=100)] = {}


class LaunchRequest(Strict):
    project_id: Slug
    node_ids: Annotated[list[Slug], Field(min_length=1, max_length=MAX_NODES_PER_PROJECT)] | None = None
    budget: Budget | None = None


class FollowUpRequest(Strict):
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class GateDecision(Strict):
    comment: Annotated[str, StringConstraints(max_length=20_000)] | None = None
