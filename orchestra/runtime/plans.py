"""Plans that grow the DAG: a node of kind ``plan`` runs its agent with an instruction to answer with a
task list; when it succeeds, the tasks become nodes of the project and of the running run, below it.

The answer is one JSON object (alone, or in a fenced ``json`` block)::

    {"tasks": [{"id": "api", "title": "Write the API", "prompt": "…", "agent": "codex",
                "depends_on": []},
               {"id": "docs", "title": "Document it", "prompt": "…", "depends_on": ["api"]}]}

``agent`` defaults to the plan node's own; ``depends_on`` names tasks of the same list. A task becomes
the node ``<plan id>.<task id>`` (``planned_by`` the plan node): one without ``depends_on`` depends
on the plan node, and the plan node's downstream nodes also depend on the tasks nothing else in the
list depends on, so they wait for all of them and receive their results. Running the plan node again
replaces the tasks it grew before. A malformed answer, an unknown agent, a cycle, or more tasks
(``max_tasks``) or a longer chain (``max_depth``) than the node allows fails the plan node with the
reason, and nothing is added. With ``review_plan`` a person approves the task list first, as at a gate,
and may send an edited one (``{"plan": {"tasks": [...]}}``): a waiting execution (agent ``gate``) of the
plan node, which grows the tasks once approved.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import sqlite_utils
from pydantic import Field, StringConstraints, ValidationError

from orchestra.agents.templates import BUILTIN_IDS
from orchestra.core.dag import find_cycle
from orchestra.core.errors import ApiError, Unprocessable
from orchestra.core.models import Name, Slug, Strict
from orchestra.core.prompts import UpstreamResult
from orchestra.core.rows import Node, Template
from orchestra.core.statuses import ExecutionStatus, NodeKind
from orchestra.runtime.hooks import TemplateSource
from orchestra.runtime.run_state import Grown, RunState
from orchestra.storage import definitions, store, transitions
from orchestra.storage.db import Database, WriteJobContext

DEFAULT_MAX_TASKS = 10
DEFAULT_MAX_DEPTH = 4
MAX_NODE_ID = 64  # a node id's length at the API edge (models.Slug)

# Anchored, one bounded character class: checked in time linear in the (at most 24-character) id.
TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$")]
# An answer is an agent's output, untrusted: it is read by a line scanner and json.loads (both linear),
# on the event loop, so it is bounded first. A plan is a few kilobytes; this leaves room for long prompts.
MAX_ANSWER_CHARS = 2_000_000
_FENCE = "```"
_FENCE_TAIL = 16  # what may follow an opening fence on its line: "json" and some spaces


class PlanTask(Strict):
    id: TaskId
    title: Name
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    agent: Slug | None = None
    depends_on: Annotated[list[TaskId], Field(max_length=50)] = []


class PlanAnswer(Strict):
    tasks: Annotated[list[PlanTask], Field(min_length=1)]


class PlanError(Exception):
    """Why a plan node's answer cannot become nodes: the plan node fails with this message."""


def limits(node: Node) -> tuple[int, int]:
    return node["max_tasks"] or DEFAULT_MAX_TASKS, node["max_depth"] or DEFAULT_MAX_DEPTH


def instruction(node: Node) -> Node:
    """The plan node with the task-list instruction after its prompt."""
    max_tasks, max_depth = limits(node)
    return node | {"prompt": (
        f"{node['prompt']}\n\n---\nAnswer with your plan as a task list and nothing else: one JSON object "
        '{"tasks": [{"id": "short-id", "title": "…", "prompt": "everything the agent doing this task needs to '
        'know", "depends_on": ["ids of tasks of this list that must be done first"]}]}. '
        f"At most {max_tasks} tasks; no chain of dependent tasks longer than {max_depth}. Each task runs as its "
        "own agent, in order of its dependencies.")}


def parse(text: str | None, max_tasks: int, max_depth: int) -> list[PlanTask]:
    """The task list of a plan node's answer; PlanError says what is wrong with it."""
    try:
        answer = PlanAnswer.model_validate(_json_of(text or ""))
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:3]]
        raise PlanError("malformed plan: " + "; ".join(problems)) from None
    tasks = answer.tasks
    ids = [task.id for task in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PlanError(f"malformed plan: task id(s) used twice: {', '.join(duplicates)}")
    for task in tasks:
        unknown = [d for d in task.depends_on if d not in ids]
        if unknown:
            raise PlanError(f"malformed plan: task '{task.id}' depends on unknown task(s): {', '.join(unknown)}")
    graph = {task.id: task.depends_on for task in tasks}
    cycle = find_cycle(graph)
    if cycle:
        raise PlanError(f"cyclic plan: {' -> '.join(cycle)}")
    if len(tasks) > max_tasks:
        raise PlanError(f"the plan has {len(tasks)} tasks, over the node's max_tasks of {max_tasks}")
    depth = _depth(graph)
    if depth > max_depth:
        raise PlanError(f"the plan chains {depth} tasks, over the node's max_depth of {max_depth}")
    return _in_dependency_order(tasks)


def _in_dependency_order(tasks: list[PlanTask]) -> list[PlanTask]:
    """Each task after those it depends on (the list has no cycle), otherwise in the answer's order."""
    by_id = {task.id: task for task in tasks}
    ordered: dict[str, PlanTask] = {}

    def visit(task: PlanTask) -> None:
        if task.id not in ordered:
            for up in task.depends_on:
                visit(by_id[up])
            ordered[task.id] = task

    for task in tasks:
        visit(task)
    return list(ordered.values())


def _json_of(text: str) -> Any:
    """The answer's JSON object: the whole text, else its last fenced block, else its outermost braces.

    Linear in the answer: the blocks are found by one pass over its lines, and the candidates handed to
    ``json.loads`` (itself linear) are the text, disjoint parts of it and one slice of it. Whatever the
    answer holds, the outcome is a value or PlanError ("malformed plan"), never another exception.
    """
    if len(text) > MAX_ANSWER_CHARS:
        raise PlanError(f"malformed plan: the answer has {len(text):,} characters, over the limit of "
                        f"{MAX_ANSWER_CHARS:,}")
    candidates = [text, *reversed(_fenced_blocks(text))]
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        candidates.append(text[first:last + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):  # RecursionError: brackets nested deeper than Python recurses
            continue
    raise PlanError("malformed plan: the answer holds no JSON object" + (f" (it begins {text[:80]!r})" if text else ""))


def _fenced_blocks(text: str) -> list[str]:
    """The bodies of the answer's fenced blocks (from ```` ``` ```` or ```` ```json ```` ending a line, up to
    the next ```` ``` ````), in order. Linear: ``str.find`` only ever moves forward, and what follows a
    fence is looked at for at most :data:`_FENCE_TAIL` characters."""
    blocks: list[str] = []
    at = 0
    while (start := text.find(_FENCE, at)) >= 0:
        after = start + len(_FENCE)
        tail = text[after:after + _FENCE_TAIL + 1]
        newline = tail.find("\n")
        if newline < 0 or tail[:newline].strip() not in ("", "json"):
            at = after  # not an opening fence: look on from just after it
            continue
        body = after + newline + 1
        end = text.find(_FENCE, body)
        if end < 0:
            break
        blocks.append(text[body:end])
        at = end + len(_FENCE)
    return blocks


def _depth(graph: dict[str, list[str]]) -> int:
    """The number of tasks in the longest chain of dependencies (the graph has no cycle)."""
    memo: dict[str, int] = {}

    def depth(task: str) -> int:
        if task not in memo:
            memo[task] = 1 + max((depth(up) for up in graph[task]), default=0)
        return memo[task]

    return max(depth(task) for task in graph)


def _grow(tx: WriteJobContext, project_id: str, run_id: str, plan: Node,
          tasks: list[PlanTask]) -> tuple[list[Node], list[Node], dict[str, str]]:
    """Replace the plan node's earlier tasks by ``tasks``; queue their executions in the run. Returns the
    new nodes, the downstream nodes whose dependencies changed, and each new node's execution id."""
    db, plan_id = tx.db, plan["id"]
    for (old,) in db.execute("SELECT id FROM nodes WHERE project_id = ? AND planned_by = ?", [project_id, plan_id]):
        definitions.delete_node(tx, project_id, old)
    node_id = {task.id: f"{plan_id}.{task.id}" for task in tasks}
    below = [n for (n,) in db.execute("SELECT node_id FROM edges WHERE project_id = ? AND depends_on = ?",
                                      [project_id, plan_id])]
    created = []
    for task in tasks:
        created.append(definitions.create_node(tx, project_id, {
            "id": node_id[task.id], "kind": NodeKind.AGENT, "title": task.title, "prompt": task.prompt,
            "agent": task.agent or plan["agent"], "planned_by": plan_id,
            "depends_on": [node_id[d] for d in task.depends_on] or [plan_id]}, BUILTIN_IDS))
    sinks = _sinks(tasks, node_id)
    updated = []
    for child in below:
        current = store.get_node(db, project_id, child)
        updated.append(definitions.update_node(tx, project_id, child, {"depends_on": current["depends_on"] + sinks},
                                         BUILTIN_IDS))
    rows = [transitions.execution_row(project_id, run_id, node, 1) for node in created]
    ids = transitions.queue_executions(tx, project_id, run_id, rows)
    return created, updated, {node["id"]: execution_id for node, execution_id in zip(created, ids, strict=True)}


def _sinks(tasks: list[PlanTask], node_id: dict[str, str]) -> list[str]:
    needed = {d for task in tasks for d in task.depends_on}
    return [node_id[task.id] for task in tasks if task.id not in needed]


async def _tasks(answer: str | None, plan: Node,
                 source: TemplateSource) -> tuple[list[PlanTask], dict[str, Template]] | str:
    """The answer's tasks and the templates they run, or why they cannot become nodes."""
    try:
        tasks = parse(answer, *limits(plan))
    except PlanError as exc:
        return str(exc)
    too_long = [t.id for t in tasks if len(f"{plan['id']}.{t.id}") > MAX_NODE_ID]
    if too_long:
        return f"task id(s) {', '.join(too_long)} make node ids longer than {MAX_NODE_ID} characters"
    templates: dict[str, Template] = {}
    for task in tasks:
        agent = task.agent or plan["agent"]
        assert agent is not None  # a plan node runs an agent
        if agent not in templates:
            template = await source.template(agent)
            if template is None:
                return f"task '{task.id}' names agent template '{agent}', which does not exist"
            templates[agent] = template
    return tasks, templates


async def check(answer: str | None, plan: Node, source: TemplateSource) -> str | None:
    """Why the answer cannot become nodes, if so (a plan to be reviewed is checked before the review)."""
    found = await _tasks(answer, plan, source)
    return found if isinstance(found, str) else None


def edited(plan: Node, edit: dict[str, Any]) -> str:
    """A reviewer's edited task list as the answer text it replaces; Unprocessable when it is no plan."""
    text = json.dumps(edit)
    try:
        parse(text, *limits(plan))
    except PlanError as exc:
        raise Unprocessable(str(exc), {"field": "plan"}) from None
    return text


def waiting_for_review(run: RunState, plan: Node) -> bool:
    """A plan node of a run resumed after a restart whose review was waiting."""
    return plan["kind"] == NodeKind.PLAN and run.first_execution[plan["id"]] in run.gates_waiting_since


def stored_answer(db: sqlite_utils.Database, run_id: str, node_id: str) -> str | None:
    """The answer a plan node's agent gave in the run (what a review resumed after a restart shows)."""
    row = db.execute(f"SELECT result_text FROM executions WHERE run_id = ? AND node_id = ? AND agent != "
                     f"'{NodeKind.GATE}' AND status = '{ExecutionStatus.SUCCEEDED}' ORDER BY num DESC LIMIT 1",
                     [run_id, node_id]).fetchone()
    return row[0] if row else None


async def grow(db: Database, project_id: str, run: RunState, plan: Node, answer: str | None,
               source: TemplateSource) -> str | None:
    """Turn a succeeded plan node's answer into nodes of its run; return why it could not, if so."""
    found = await _tasks(answer, plan, source)
    if isinstance(found, str):
        return found
    tasks, templates = found
    try:
        created, updated, executions = await db.write(
            lambda tx: _grow(tx, project_id, run.id, plan, tasks), wait_for_storage=True)
    except ApiError as exc:
        return f"the plan's tasks could not be added: {exc.message}"
    run.templates |= templates
    run.nodes |= {node["id"]: node for node in created}
    run.nodes |= {node["id"]: node for node in updated if node["id"] in run.nodes}  # a follow-up run has none
    run.first_execution |= executions
    sinks = _sinks(tasks, {t.id: f"{plan['id']}.{t.id}" for t in tasks})
    summary = "The plan's tasks:\n" + "\n".join(f"- {node['id']}: {node['title']}" for node in created)
    run.grown[plan["id"]] = Grown([node["id"] for node in created], sinks, summary)
    return None


def schedule(run: RunState, plan_id: str, waiting_on: dict[str, set[str]], dependents: dict[str, list[str]]) -> None:
    """Add the nodes a succeeded plan node grew to its run's schedule: its tasks wait for each other (the
    first ones for the plan node), and the plan node's downstream nodes for the last ones."""
    grown = run.grown.pop(plan_id, None)
    if grown is None:
        return
    below = list(dependents[plan_id])
    for node_id in grown.node_ids:
        waiting_on[node_id] = set(run.nodes[node_id]["depends_on"])
        dependents[node_id] = []
    for node_id in grown.node_ids:
        for up in waiting_on[node_id]:
            dependents[up].append(node_id)
    for child in below:
        waiting_on[child] |= set(grown.sinks)
        for sink in grown.sinks:
            dependents[sink].append(child)
    run.results[plan_id] = UpstreamResult(plan_id, run.nodes[plan_id]["title"], grown.summary)
