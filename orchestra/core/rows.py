"""The shapes of the rows that cross module boundaries: projects, nodes, agent templates, runs and
executions as the store presents them (and as the API sends them).

These are :class:`typing.TypedDict`: plain dicts at runtime, so they cost nothing and the wire
format is the dicts themselves. Statuses read back from SQLite are plain strings (equal to the
members of :mod:`orchestra.core.statuses`); those the hub writes may be the members themselves.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Totals(TypedDict):
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: no execution reported a cost
    executions: int


class LastRun(TypedDict):
    id: str
    status: str
    created_at: float


class Project(TypedDict):
    id: str
    name: str
    description: str
    workspace: str
    max_parallel: int | None
    notify: str | None  # apprise URLs for this project's notifications (orchestra/runtime/notifications.py)
    created_at: float
    updated_at: float
    node_count: int
    last_run: LastRun | None
    running_runs: list[str]  # ids of its unfinished runs, newest first (runs may overlap)
    state: str  # a ProjectState: running while any run is unfinished
    totals: NotRequired[Totals]  # only GET /projects/{id} (and create/update) pay for the sum


class Node(TypedDict):
    project_id: str
    id: str
    title: str
    prompt: str
    kind: str  # a NodeKind
    agent: str | None  # None for a gate
    model: str | None
    timeout_s: float | None
    retries: int
    position: dict[str, float] | None
    budget: dict[str, Any] | None
    placement: NotRequired[dict[str, float] | None]  # Ray resources it needs (see models.Placement)
    network: NotRequired[str | None]  # "full" or "none" in its sandbox; None: its template's
    depends_on: list[str]
    check: list[str] | None  # run after the agent; the node succeeds only when it passes
    check_timeout_s: float | None
    max_repairs: int
    max_tasks: int | None  # a plan node's limits (None: orchestra.runtime.plans' defaults)
    max_depth: int | None
    planned_by: str | None  # the plan node whose task list made this node
    review_plan: bool  # a plan node: its task list waits for a person's approval before it grows
    candidates: int | list[str] | None  # best of N: a count, or one candidate per agent id
    land: NotRequired[dict[str, Any] | None]  # a land node: mode, remote, base, branch (models.LandSettings)
    created_at: float
    updated_at: float


class StdinPrompt(TypedDict):
    argument: str | None


class TemplateSandbox(TypedDict, total=False):
    writable: list[str]
    readable: list[str]
    network: str  # "full" or "none"


class Template(TypedDict):
    """An agent template, built in (``builtin``) or the user's own."""

    id: str
    name: str
    command: list[str]
    resume_command: list[str] | None
    # How to ask its version (the availability check); None: only the executable is looked for.
    version_command: NotRequired[list[str] | None]
    output: str
    stdin_prompt: StdinPrompt | None
    default_model: str | None
    env: dict[str, str]
    placement: NotRequired[dict[str, float] | None]
    # Phrases (case-insensitive substrings) of its CLI's usage/rate-limit message: a failed run that
    # printed one is parked, not failed (orchestra/agents/limits.py). The built-ins know their CLIs'.
    limit_patterns: NotRequired[list[str] | None]
    sandbox: NotRequired[TemplateSandbox | None]  # what its agents may reach (orchestra.executors.sandbox)
    env_passthrough: NotRequired[list[str]]  # hub variables its agents inherit ("ANTHROPIC_*": a prefix)
    builtin: bool
    created_at: NotRequired[float]  # user templates only


class ExecutionSummary(TypedDict):
    """What every execution event carries (``execution``): ``transitions.SUMMARY_KEYS``."""

    id: str
    run_id: str
    node_id: str
    attempt: int
    status: str  # an ExecutionStatus
    agent: str
    model: str | None
    exit_code: int | None
    error: str | None
    result_text: str | None
    session_id: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    parent_execution_id: str | None
    candidate: int | None  # best of N: which candidate of its node this execution is
    base_commit: str | None
    commit_sha: str | None
    branch: str | None
    ran_on: str | None  # where its agent ran: "local", or "ray:<host>/<node id>"
    resume_at: float | None  # parked at a usage/rate limit: when it goes on (epoch seconds)
    sandbox: str | None  # how: "bwrap", "bwrap, network none", or "off: <reason>"
    created_at: float
    started_at: float | None
    finished_at: float | None


class Execution(ExecutionSummary):
    """An execution as ``GET /executions/{id}`` shows it. Pages of ``GET /executions`` leave out
    ``prompt``, ``argv`` and ``stderr``."""

    project_id: str
    workspace: str | None
    pid: int | None
    prompt: NotRequired[str | None]
    argv: NotRequired[list[str] | None]
    stderr: NotRequired[str | None]


class Landed(TypedDict):
    """How a run's work landed: merged (``commit``: the base's new tip), pushed (``branch``, ``commit``), or
    a pull request (also ``url`` and ``number``)."""

    mode: str
    commit: NotRequired[str]
    branch: NotRequired[str]
    base: NotRequired[str]
    url: NotRequired[str]
    number: NotRequired[int]
    forge: NotRequired[str]  # a pull request's: "github", "gitlab" (a merge request) or "gitea"
    landed_at: float


class Run(TypedDict):
    id: str
    project_id: str
    status: str  # a RunStatus
    scope: str  # a RunScope: the whole DAG, chosen nodes and below, or a follow-up
    node_ids: list[str] | None  # what was launched; None: every node
    budget: dict[str, Any] | None
    inputs: dict[str, str]  # the launch inputs ({{inputs.NAME}})
    trigger: dict[str, Any] | None  # what launched it, when not a request: a webhook, a schedule's tick
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    seen_at: float | None  # a failed run leaves the attention list once seen (POST /runs/{id}/seen)
    totals: Totals
    landed: NotRequired[Landed | None]  # how its work landed (a land node, or POST /runs/{id}/land)
    executions: NotRequired[list[Execution]]  # GET /runs/{id} only


class QueuedExecution(TypedDict):
    id: str
    node_id: str
    status: str


class LaunchedRun(TypedDict):
    """The reply to a launch or a follow-up."""

    run_id: str
    status: str
    executions: list[QueuedExecution]
