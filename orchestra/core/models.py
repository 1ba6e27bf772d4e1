"""Pydantic models for what clients send. Strict: unknown fields and wrong types are refused (422).

Every model refuses, in any field, what would only hurt later: NaN and infinities (not JSON: they
would be served as invalid JSON), and NUL characters (not allowed in a process's arguments or
environment, nor in a path). Numbers have bounds, so none is too large for SQLite's 64-bit integers.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from orchestra.core.cron import check_cron
from orchestra.core.notify_urls import check_targets
from orchestra.core.prompts import INPUT_NAME
from orchestra.core.statuses import NodeKind

# Patterns on API fields (pydantic's regex engine is Rust's: no backtracking) are anchored and bounded.
Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Prompt = Annotated[str, StringConstraints(max_length=200_000)]
OutputFormat = Literal["claude-stream-json", "codex-json", "gemini-stream-json", "text"]

MAX_NODES_PER_PROJECT = 2_000
MAX_DEPENDENCIES = 500
# A workspace path has at most this many parts: a deeper one is no real project directory, and
# creating it (pathlib's mkdir recurses once per missing parent) would exhaust the stack.
MAX_WORKSPACE_DEPTH = 64
MAX_COORDINATE = 1e9  # a node's position on the canvas
MAX_COST_USD = 1e6
MAX_TOKENS = 10**12
MAX_REPAIRS = 10


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return False  # numbers, None, and nested models (which check their own fields)


def _shallow_path(path: str) -> str:
    if len(PurePosixPath(path).parts) > MAX_WORKSPACE_DEPTH:
        raise ValueError(f"must have at most {MAX_WORKSPACE_DEPTH} path components")
    return path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """Every text field of every model: a NUL would crash the agent's launch (argv, env) later."""
        if _has_nul(value):
            raise ValueError("must not contain NUL characters (\\u0000)")
        return value


Workspace = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_shallow_path)]
Coordinate = Annotated[float, Field(ge=-MAX_COORDINATE, le=MAX_COORDINATE)]


Description = Annotated[str, StringConstraints(max_length=20_000)]
MaxParallel = Annotated[int, Field(ge=1, le=1024)]
# Apprise URLs for a project's notifications, besides ORCHESTRA_NOTIFY ("" or null: none); checked when set.
NotifyTargets = Annotated[str | None, StringConstraints(max_length=4000), AfterValidator(check_targets)]


class ProjectCreate(Strict):
    name: Name
    description: Description = ""
    workspace: Workspace | None = None
    max_parallel: MaxParallel | None = None
    notify: NotifyTargets = None


class ProjectPatch(Strict):
    name: Name | None = None
    description: Description | None = None
    workspace: Workspace | None = None
    max_parallel: MaxParallel | None = None
    notify: NotifyTargets = None


class Position(Strict):
    x: Coordinate
    y: Coordinate


class Budget(Strict):
    """Limits on an execution (per node) or on a whole run; crossing one stops the agents: failed.

    Validates what a client sends, and is what the hub enforces: a node's or run's stored budget (a
    dict this model dumped) is read back with ``Budget.model_validate``."""

    cost_usd: Annotated[float, Field(gt=0, le=MAX_COST_USD)] | None = None
    tokens: Annotated[int, Field(gt=0, le=MAX_TOKENS)] | None = None
    wall_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None

    def exceeded(self, cost: float, tokens: int) -> str | None:
        """Which limit ``cost`` and ``tokens`` are over, in words; None when neither is (wall time is
        enforced by a deadline instead)."""
        if self.cost_usd is not None and cost > self.cost_usd:
            return f"cost ${cost:.4f} is over its ${self.cost_usd:g} budget"
        if self.tokens is not None and tokens > self.tokens:
            return f"{tokens} tokens are over its {self.tokens} token budget"
        return None


# A node's kind: statuses.NodeKind itself, given as its text value (flow files are read in Python mode).
Kind = Annotated[NodeKind, Field(strict=False)]
BranchName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,199}$")]


class LandSettings(Strict):
    """A land node's settings (orchestra/runtime/landing.py); git checks the branch names' finer rules."""

    mode: Literal["merge", "push", "pull_request"]
    remote: Slug | None = None  # push, pull_request: the workspace repository's remote (default "origin")
    base: BranchName | None = None  # merge: the branch to land on; pull_request: the PR's base (default: the
    # branch checked out in the workspace)
    branch: BranchName | None = None  # push, pull_request: the branch pushed (default orchestra/<project>/<run>)
    # pull_request: where it is opened (orchestra/workspaces/pull_requests.py); None: "github". Stored only when
    # given, so that a flow file of a merge or push node does not grow a field it cannot have.
    forge: Literal["github", "gitlab", "gitea"] | None = None

    @field_validator("forge")
    @classmethod
    def _forge_needs_a_pull_request(cls, forge: str | None, info: ValidationInfo) -> str | None:
        """A forge belongs to mode pull_request: given with merge or push it would silently do nothing."""
        mode = info.data.get("mode")
        if forge is not None and mode is not None and mode != "pull_request":
            raise ValueError(f"only mode 'pull_request' opens a pull request on a forge; mode '{mode}' has no "
                             "'forge' (drop it, or set mode 'pull_request')")
        return forge


MaxTasks = Annotated[int, Field(ge=1, le=50)]  # a plan node's limits (orchestra/runtime/plans.py)
MaxDepth = Annotated[int, Field(ge=1, le=20)]
MAX_CANDIDATES = 5
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _candidates(value: Any) -> int | list[str]:
    """One message for both forms (a union would report each form's own complaint)."""
    count = value if isinstance(value, int) and not isinstance(value, bool) else None
    agents = value if isinstance(value, list) and all(isinstance(a, str) and _SLUG.match(a) for a in value) else None
    size = count if count is not None else len(agents) if agents is not None else 0
    if not 2 <= size <= MAX_CANDIDATES:
        raise ValueError(f"must be a count from 2 to {MAX_CANDIDATES}, or a list of 2 to {MAX_CANDIDATES} "
                         "agent template ids")
    return value  # type: ignore[no-any-return]


# Best of N (orchestra/runtime/candidates.py): how many executions of the node's agent, or one per agent listed.
Candidates = Annotated[int | list[str], PlainValidator(_candidates)]
# A node's check: an argv run without a shell in the execution's working directory (orchestra/runtime/checks.py).
CheckArgv = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=10_000)]],
                      Field(min_length=1, max_length=200)]
CheckTimeout = Annotated[float, Field(gt=0, le=24 * 3600)]
Repairs = Annotated[int, Field(ge=0, le=MAX_REPAIRS)]


# Where an agent may run on a Ray cluster: custom resources a worker offers (`ray start --resources`),
# e.g. {"claude": 1} or {"worker-a": 1}. The local executor ignores it.
Placement = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")], Annotated[float, Field(gt=0, le=1e6)]],
    Field(min_length=1, max_length=16)]


class NodeCreate(Strict):
    id: Slug | None = None
    kind: Kind = NodeKind.AGENT
    title: Name
    prompt: Prompt = ""
    agent: Slug | None = None  # required for an agent node; a gate runs no agent
    budget: Budget | None = None
    depends_on: Annotated[list[Slug], Field(max_length=MAX_DEPENDENCIES)] = []
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None
    retries: Annotated[int, Field(ge=0, le=10)] = 0
    position: Position | None = None
    check: CheckArgv | None = None
    check_timeout_s: CheckTimeout | None = None
    max_repairs: Repairs = 0
    max_tasks: MaxTasks | None = None
    max_depth: MaxDepth | None = None
    review_plan: bool = False  # a plan node: a person approves (or edits) its task list before it grows
    candidates: Candidates | None = None
    placement: Placement | None = None
    network: Literal["full", "none"] | None = None  # in its sandbox; None: its template's
    land: LandSettings | None = None  # a land node's mode and where it lands


class NodePatch(Strict):
    kind: Kind | None = None
    budget: Budget | None = None
    title: Name | None = None
    prompt: Prompt | None = None
    agent: Slug | None = None
    depends_on: Annotated[list[Slug], Field(max_length=MAX_DEPENDENCIES)] | None = None
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    position: Position | None = None
    check: CheckArgv | None = None
    check_timeout_s: CheckTimeout | None = None
    max_repairs: Repairs | None = None
    max_tasks: MaxTasks | None = None
    max_depth: MaxDepth | None = None
    review_plan: bool | None = None
    candidates: Candidates | None = None
    placement: Placement | None = None
    network: Literal["full", "none"] | None = None  # in its sandbox; None: its template's
    land: LandSettings | None = None


class StdinPromptRequest(Strict):
    """How the CLI takes a prompt too long for one argument (over 100,000 bytes) on stdin: its
    ``{prompt}`` argument becomes ``argument`` ("-" for many CLIs), or is left out when null."""

    argument: Annotated[str, StringConstraints(max_length=200)] | None


SandboxPath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class TemplateSandboxRequest(Strict):
    """What a template's agents may reach inside the sandbox (orchestra.executors.sandbox)."""

    writable: Annotated[list[SandboxPath], Field(max_length=50)] = []  # state directories, read-write
    readable: Annotated[list[SandboxPath], Field(max_length=50)] = []  # read-only, beyond the system
    network: Literal["full", "none"] = "full"


# A hub variable's name, or a prefix of names ending in "*" (ANTHROPIC_*).
EnvPassthrough = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*\*?$", max_length=200)]


class TemplateCreate(Strict):
    id: Slug
    name: Name
    command: Annotated[list[Annotated[str, StringConstraints(max_length=10_000)]], Field(min_length=1, max_length=200)]
    output: OutputFormat
    default_model: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    # How to continue a session (``{session_id}``) for follow-up turns; None: the CLI cannot resume.
    resume_command: Annotated[list[Annotated[str, StringConstraints(max_length=10_000)]],
                              Field(min_length=1, max_length=200)] | None = None
    # How to ask its version for the availability check (e.g. ["mycli", "--version"]); None: the check only
    # resolves command[0], it never runs the template's command.
    version_command: Annotated[list[Annotated[str, StringConstraints(max_length=10_000)]],
                               Field(min_length=1, max_length=20)] | None = None
    env: Annotated[dict[str, Annotated[str, StringConstraints(max_length=10_000)]], Field(max_length=100)] = {}
    stdin_prompt: StdinPromptRequest | None = None  # None: prompts must fit in one argument
    placement: Placement | None = None  # a node's own placement wins over its template's
    # Its CLI's usage/rate-limit message: case-insensitive phrases, each found as a plain substring
    # (never a regex: agent output is untrusted). A failed run that printed one is parked, not failed.
    limit_patterns: Annotated[list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=3,
                                                                     max_length=200)]],
                              Field(max_length=20)] | None = None
    sandbox: TemplateSandboxRequest | None = None
    env_passthrough: Annotated[list[EnvPassthrough], Field(max_length=100)] = []


InputName = Annotated[str, StringConstraints(pattern=rf"^{INPUT_NAME}$")]
# Values for a launch's {{inputs.NAME}} placeholders (orchestra.core.prompts).
Inputs = Annotated[dict[InputName, Annotated[str, StringConstraints(max_length=100_000)]], Field(max_length=100)]


class LaunchRequest(Strict):
    project_id: Slug
    node_ids: Annotated[list[Slug], Field(min_length=1, max_length=MAX_NODES_PER_PROJECT)] | None = None
    budget: Budget | None = None
    inputs: Inputs = {}


class FollowUpRequest(Strict):
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class GateDecision(Strict):
    comment: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    candidate: Slug | None = None  # approving a best-of-N pick: the candidate execution chosen
    plan: dict[str, Any] | None = None  # approving a plan's review: the task list, edited


class WebhookSet(Strict):
    """A project's webhook: deliveries signed with ``secret`` launch it (with these inputs and nodes)."""

    secret: Annotated[str, StringConstraints(min_length=16, max_length=256)]
    inputs: Inputs = {}
    node_ids: Annotated[list[Slug], Field(min_length=1, max_length=MAX_NODES_PER_PROJECT)] | None = None


CronText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(check_cron)]


class ScheduleUpdate(Strict):
    """PATCH /schedules/{id}: the fields given change; ``enabled: false`` keeps it without firing."""

    cron: CronText | None = None
    inputs: Inputs | None = None
    node_ids: Annotated[list[Slug], Field(min_length=1, max_length=MAX_NODES_PER_PROJECT)] | None = None
    enabled: bool | None = None


class ScheduleCreate(Strict):
    cron: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(check_cron)]
    inputs: Inputs = {}
    node_ids: Annotated[list[Slug], Field(min_length=1, max_length=MAX_NODES_PER_PROJECT)] | None = None
