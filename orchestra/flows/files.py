"""Flows as files: a project's DAG (nodes, edges, the user templates its nodes need, gates, budgets,
checks) as one human-editable TOML document (schema: docs/FLOWS.md).

:func:`export_flow` writes it; :func:`parse_flow` reads one, refusing a bad file with the line and
the field (422); :func:`apply_flow` makes a project match it in one write transaction — creating,
updating and deleting nodes — and says what it changed (nothing, the second time). A project with a
run in progress is left alone: the apply is refused with the diff it would have made.

A node of the file is :class:`FlowNode`, the API's node body with a required ``id``: a field added to
nodes (``models.NodeCreate``) is exported and applied without a change here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import sqlite_utils
from pydantic import Field, ValidationError

from orchestra.agents.templates import BUILTIN_IDS
from orchestra.core.dag import find_cycle
from orchestra.core.errors import Conflict, Unprocessable
from orchestra.core.models import MAX_NODES_PER_PROJECT, NodeCreate, ProjectCreate, Slug, Strict, TemplateCreate
from orchestra.core.rows import Node
from orchestra.core.statuses import UNFINISHED_RUN_STATUSES, NodeKind, sql_list
from orchestra.flows.changes import Change
from orchestra.flows.key_lines import key_lines, line_of
from orchestra.flows.toml_text import dumps
from orchestra.storage import definitions, store
from orchestra.storage.db import WriteJobContext

FLOW_VERSION = 1
HEADER = "# An Orchestra flow (schema: docs/FLOWS.md). Apply it with: orchestra apply FILE\n\n"
ENV_NOTE = ("# Template env values are not exported (they are often secrets): only their names, with \"\".\n"
            "# The values are set on the hub; applying this file keeps the hub's values.\n\n")
# The order of a node's keys in an exported file: the short ones first, the prompt last; fields the
# list does not name (added to nodes later) come before the prompt.
_NODE_KEY_ORDER = ("id", "title", "kind", "agent", "model", "depends_on", "timeout_s", "retries")
_NODE_KEY_LAST = ("prompt", "budget", "position")
_RUNNING = f"SELECT id FROM runs WHERE project_id = ? AND status IN {sql_list(UNFINISHED_RUN_STATUSES)} LIMIT 1"


class FlowNode(NodeCreate):
    id: Slug  # required in a file: apply matches the project's nodes by it


class Flow(Strict):
    version: Literal[1] = 1  # FLOW_VERSION
    project: ProjectCreate
    templates: Annotated[list[TemplateCreate], Field(max_length=200)] = []
    nodes: Annotated[list[FlowNode], Field(max_length=MAX_NODES_PER_PROJECT)] = []


@dataclass(frozen=True)
class ParsedFlow:
    """A flow file that passed its own checks, and where each of its keys is written."""

    flow: Flow
    lines: dict[tuple[str | int, ...], int]

    def error(self, path: tuple[str | int, ...], message: str) -> Unprocessable:
        line = line_of(self.lines, path)
        where = _describe(path, self.flow.nodes)
        prefix = f"line {line}, " if line else ""
        return Unprocessable(f"flow file {prefix}{where}: {message}",
                             [{"line": line, "field": _dotted(path), "message": message}])


class NameTaken(Conflict):
    """A new project's name was taken by the time its transaction ran; ``details["project_id"]`` has it."""


def _dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else (f".{part}" if i else part)
                   for i, part in enumerate(path)) or "(the file)"


def _describe(path: tuple[str | int, ...], nodes: list[FlowNode] | list[dict[str, Any]]) -> str:
    """``nodes[2].timeout_s`` and, for a node, its id: ``nodes[2] (id 'build').timeout_s``."""
    if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int) and path[1] < len(nodes):
        node = nodes[path[1]]
        node_id = node.id if isinstance(node, FlowNode) else node.get("id") if isinstance(node, dict) else None
        if isinstance(node_id, str):
            rest = _dotted(path[2:])
            return f"nodes[{path[1]}] (id '{node_id}')" + ("." + rest if path[2:] else "")
    return _dotted(path)


# -- reading --------------------------------------------------------------------------------------

# Linear: run over tomllib's own short error message, never over the file; anchored on a literal.
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_flow(text: str) -> ParsedFlow:
    """The flow in ``text``, checked on its own (not against a hub): 422 naming the line and field."""
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses per level of nested arrays and inline tables
        raise Unprocessable("flow file not valid: arrays or tables nested too deeply",
                            [{"line": None, "column": None, "message": "nested too deeply"}]) from None
    except tomllib.TOMLDecodeError as exc:
        position = _TOML_POSITION.search(str(exc))
        line, column = (int(position.group(1)), int(position.group(2))) if position else (None, None)
        reason = _TOML_POSITION.sub("", str(exc)).strip()
        where = f"line {line}, column {column}: " if line else ""
        raise Unprocessable(f"flow file {where}not valid TOML: {reason}",
                            [{"line": line, "column": column, "message": reason}]) from None
    lines = key_lines(text)
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc, data, lines) from None
    except RecursionError:
        raise Unprocessable("flow file not valid: values nested too deeply",
                            [{"line": None, "column": None, "message": "nested too deeply"}]) from None
    parsed = ParsedFlow(flow, lines)
    _check_graph(parsed)
    return parsed


def _schema_error(exc: ValidationError, data: dict[str, Any], lines: dict[tuple[str | int, ...], int]) -> Unprocessable:
    nodes = data.get("nodes") if isinstance(data.get("nodes"), list) else []
    details, described = [], []
    for error in exc.errors(include_url=False, include_input=False):
        path = tuple(part for part in error["loc"] if isinstance(part, int | str))
        line = line_of(lines, path)
        where = _describe(path, nodes or [])
        message = error["msg"] if error["type"] != "missing" else "required field is missing"
        details.append({"line": line, "field": _dotted(path), "message": message})
        described.append((f"line {line}, " if line else "") + f"{where}: {message}")
    return Unprocessable("flow file " + "; ".join(described[:5]), details)


def _check_graph(parsed: ParsedFlow) -> None:
    """What one node alone cannot tell: unique ids, known dependencies, no cycle, templates not built in."""
    flow = parsed.flow
    for index, template in enumerate(flow.templates):
        if template.id in BUILTIN_IDS:
            raise parsed.error(("templates", index, "id"), f"'{template.id}' is a built-in template; use another id")
        if any(other.id == template.id for other in flow.templates[:index]):
            raise parsed.error(("templates", index, "id"), f"template '{template.id}' is defined twice")
    seen: set[str] = set()
    for index, node in enumerate(flow.nodes):
        if node.id in seen:
            raise parsed.error(("nodes", index, "id"), f"node '{node.id}' is defined twice")
        seen.add(node.id)
        if node.kind in ("gate", "land") and node.agent:
            what = "gate" if node.kind == "gate" else "land node"
            raise parsed.error(("nodes", index, "agent"), f"a {what} runs no agent: leave 'agent' out")
        if node.kind not in ("gate", "land") and not node.agent:
            raise parsed.error(("nodes", index, "agent"), f"an {node.kind} node needs 'agent', the id of an agent "
                               "template")
    for index, node in enumerate(flow.nodes):
        if len(set(node.depends_on)) != len(node.depends_on):
            raise parsed.error(("nodes", index, "depends_on"), "depends_on lists a node twice")
        unknown = [up for up in node.depends_on if up not in seen]
        if unknown:
            raise parsed.error(("nodes", index, "depends_on"),
                               f"names node(s) the flow does not define: {', '.join(unknown)}")
    cycle = find_cycle({node.id: node.depends_on for node in flow.nodes})
    if cycle:
        index = next(i for i, node in enumerate(flow.nodes) if node.id == cycle[0])
        raise parsed.error(("nodes", index, "depends_on"), f"closes a cycle: {' -> '.join(cycle)}")


# -- writing --------------------------------------------------------------------------------------


def export_flow(db: sqlite_utils.Database, project_id: str, workspaces_root: Path) -> str:
    """The project as a flow file: what :func:`apply_flow` needs to rebuild it on any hub."""
    project = store.get_project(db, project_id)
    nodes = _authored_nodes(store.list_nodes(db, project_id))
    doc: dict[str, Any] = {"version": FLOW_VERSION, "project": _project_fields(project, workspaces_root)}
    agents = sorted({node["agent"] for node in nodes if node["agent"] and node["agent"] not in BUILTIN_IDS})
    templates = [t for t in (store.user_template(db, agent) for agent in agents) if t is not None]
    if templates:
        doc["templates"] = [_exported_template(t) for t in templates]
    if nodes:
        doc["nodes"] = [_node_fields(node) for node in nodes]
    return HEADER + (ENV_NOTE if any(t.get("env") for t in templates) else "") + dumps(doc)


def _project_fields(project: Any, workspaces_root: Path) -> dict[str, Any]:
    """Name, description, max_parallel and the workspace when it is not the default (relative to the
    workspaces root, as the API takes it)."""
    fields: dict[str, Any] = {"name": project["name"]}
    if project["description"]:
        fields["description"] = project["description"]
    workspace = Path(project["workspace"])
    root = workspaces_root.resolve()
    if workspace != root / project["id"] and root in workspace.parents:
        fields["workspace"] = str(workspace.relative_to(root))
    if project["max_parallel"] is not None:
        fields["max_parallel"] = project["max_parallel"]
    return fields


def _template_fields(template: Mapping[str, object]) -> dict[str, Any]:
    """A template as a flow file has it: the fields of ``POST /agent-templates`` that are set."""
    return {name: template[name] for name in TemplateCreate.model_fields if template.get(name) not in (None, {}, [])}


def _exported_template(template: Mapping[str, object]) -> dict[str, Any]:
    """A template for a file that may be committed: its ``env`` by names only (values "")."""
    fields = _template_fields(template)
    if isinstance(fields.get("env"), dict):
        fields["env"] = dict.fromkeys(fields["env"], "")
    return fields


def _with_hub_env(wanted: dict[str, Any], have: dict[str, Any]) -> dict[str, Any]:
    """A file's template fields with each ``env`` value "" (as exported) taken as the hub's value."""
    env, hub_env = wanted.get("env"), have.get("env")
    if isinstance(env, dict) and isinstance(hub_env, dict):
        wanted = wanted | {"env": {k: hub_env.get(k, v) if v == "" else v for k, v in env.items()}}
    return wanted


def _authored_nodes(nodes: list[Node]) -> list[Node]:
    """The nodes a person wrote: a plan's grown tasks (``planned_by``) and the edges to them belong to
    the plan's last run — its next run grows them again — so a flow neither writes nor deletes them."""
    grown = {node["id"] for node in nodes if node.get("planned_by")}
    if not grown:
        return nodes
    return [cast(Node, {**node, "depends_on": [d for d in node["depends_on"] if d not in grown]})
            for node in nodes if node["id"] not in grown]


def _node_values(node: Node | dict[str, Any]) -> dict[str, Any]:
    """A node's fields as a flow file has them (every field of :class:`FlowNode`; None when unset)."""
    row: dict[str, Any] = dict(node)
    return {name: row.get(name) for name in FlowNode.model_fields}


def _flow_node_values(node: FlowNode) -> dict[str, Any]:
    dumped = node.model_dump(exclude_none=True)
    return {name: dumped.get(name) for name in FlowNode.model_fields}


def _node_fields(node: Node) -> dict[str, Any]:
    values = _node_values(node)
    defaults = {name: info.get_default(call_default_factory=True) for name, info in FlowNode.model_fields.items()
                if name != "id"}
    kept = {name: value for name, value in values.items()
            if value is not None and (name not in defaults or value != defaults[name])}
    if isinstance(kept.get("budget"), dict):
        kept["budget"] = {k: v for k, v in kept["budget"].items() if v is not None}
    first = [name for name in _NODE_KEY_ORDER if name in kept]
    last = [name for name in _NODE_KEY_LAST if name in kept]
    middle = [name for name in kept if name not in first and name not in last]
    return {name: kept[name] for name in [*first, *middle, *last]}


# -- comparing and applying -----------------------------------------------------------------------


def plan_changes(db: sqlite_utils.Database, project_id: str | None, parsed: ParsedFlow,
                 workspace: str | None) -> list[Change]:
    """What applying ``parsed`` to the project (None: a new one) would change, checked against the
    hub's templates. ``workspace``: the flow's workspace, resolved; None leaves it as it is."""
    flow = parsed.flow
    changes: list[Change] = []
    wanted = flow.project.model_dump()
    wanted.pop("workspace")
    if project_id is None:
        changes.append(Change("create", "project", flow.project.name))
    else:
        project: dict[str, Any] = dict(store.get_project(db, project_id))
        if workspace is not None:
            wanted["workspace"] = workspace
        differ = {name: (project[name], value) for name, value in wanted.items() if project[name] != value}
        if differ:
            changes.append(Change("update", "project", project["name"], differ))
    changes += _template_changes(db, parsed)
    known = set(BUILTIN_IDS) | {t.id for t in flow.templates}
    for index, node in enumerate(flow.nodes):
        if node.agent and node.agent not in known and store.user_template(db, node.agent) is None:
            raise parsed.error(("nodes", index, "agent"), f"agent template '{node.agent}' does not exist on this "
                               "hub; add it to the flow's [[templates]]")
    every_node = store.list_nodes(db, project_id) if project_id else []
    authored = _authored_nodes(every_node)
    current = {node["id"]: _node_values(node) for node in authored}
    desired = {node.id: _flow_node_values(node) for node in flow.nodes}
    for node_id, values in desired.items():
        now = current.get(node_id)
        if now is None:
            changes.append(Change("create", "node", node_id))
            continue
        differ = {name: (now[name], value) for name, value in values.items() if now[name] != value}
        if differ:
            changes.append(Change("update", "node", node_id, differ))
    changes += [Change("delete", "node", node_id) for node_id in current if node_id not in desired]
    going = {c.id for c in changes if c.what == "node" and c.op == "delete"} | {
        c.id for c in changes if c.what == "node" and "kind" in c.fields and c.fields["kind"][0] == NodeKind.PLAN}
    changes += [Change("delete", "node", node["id"]) for node in every_node if node.get("planned_by") in going]
    return changes


def _template_changes(db: sqlite_utils.Database, parsed: ParsedFlow) -> list[Change]:
    """Templates are the hub's, shared by its projects: a missing one is added; one that exists must be
    the same (apply never changes another project's agent)."""
    changes = []
    for index, template in enumerate(parsed.flow.templates):
        existing = store.user_template(db, template.id)
        if existing is None:
            changes.append(Change("create", "template", template.id))
            continue
        have = _template_fields(existing)
        wanted = _with_hub_env(_template_fields(template.model_dump()), have)
        differ = sorted(name for name in set(wanted) | set(have) if wanted.get(name) != have.get(name))
        if differ:
            raise Conflict(f"flow file line {line_of(parsed.lines, ('templates', index, 'id'))}: agent template "
                           f"'{template.id}' exists on this hub with another {', '.join(differ)}; templates are "
                           "shared by every project, so apply does not change them: rename it in the flow",
                           {"template": template.id, "fields": differ})
    return changes


def apply_flow(tx: WriteJobContext, project_id: str | None, parsed: ParsedFlow, *, workspace: str | None,
               new_project_id: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Make the project match the flow (or, with ``project_id`` None, create it as ``new_project_id``
    in ``workspace``), all in this one transaction; refused while one of its runs is in progress."""
    if project_id is None:  # checked in the transaction that creates it: concurrent applies see each other
        same = tx.execute("SELECT id FROM projects WHERE name = ? ORDER BY created_at, id LIMIT 1",
                          [parsed.flow.project.name]).fetchone()
        if same is not None:
            raise NameTaken(f"project '{same[0]}' named '{parsed.flow.project.name}' was created meanwhile "
                            "(by another apply of this flow)", {"project_id": same[0]})
    changes = plan_changes(tx.db, project_id, parsed, workspace if project_id else None)
    if project_id is not None and changes:
        running = tx.execute(_RUNNING, [project_id]).fetchone()
        if running is not None:
            lines = "\n".join(change.describe() for change in changes)
            raise Conflict(f"project '{project_id}' has a run in progress ({running[0]}); nothing was applied. "
                           f"Once it ends, apply would change:\n{lines}",
                           {"run_id": running[0], "changes": [c.as_json() for c in changes]})
    target = project_id or new_project_id
    assert target is not None
    if changes and not dry_run:
        _write(tx, target, project_id is None, parsed, changes, workspace)
    return {"project_id": target, "project_created": project_id is None and not dry_run, "dry_run": dry_run,
            "changed": bool(changes), "changes": [c.as_json() for c in changes],
            "diff": [c.describe() for c in changes]}


def _write(tx: WriteJobContext, project_id: str, create: bool, parsed: ParsedFlow, changes: list[Change],
           workspace: str | None) -> None:
    flow = parsed.flow
    project = flow.project.model_dump(exclude={"workspace"})
    if create:
        definitions.insert_project(tx, project | {"id": project_id, "workspace": workspace})
    elif (project_change := next((c for c in changes if c.what == "project"), None)) is not None:
        definitions.update_project(tx, project_id, {name: new for name, (_, new) in project_change.fields.items()})
    for template in flow.templates:
        if any(c.what == "template" and c.id == template.id for c in changes):
            definitions.insert_template(tx, template.model_dump(exclude_none=True), BUILTIN_IDS)
    deleted = [c.id for c in changes if c.what == "node" and c.op == "delete"]
    unplanned = [c.id for c in changes if c.what == "node" and c.op == "update" and "kind" in c.fields
                 and c.fields["kind"][0] == NodeKind.PLAN]
    removed: set[str] = set()
    for node_id in [*deleted, *unplanned]:  # a plan node's grown tasks go with it (definitions.remove_grown)
        removed.update(definitions.remove_grown(tx, project_id, node_id))
    for node_id in (d for d in deleted if d not in removed):
        definitions.remove_node(tx, project_id, node_id)
    nodes = {node.id: node for node in flow.nodes}
    created = [c.id for c in changes if c.what == "node" and c.op == "create"]
    present = {node.id for node in flow.nodes} - set(created)  # kept from before
    later: list[str] = []  # new nodes that depend on a node created after them: their edges come last
    for node_id in created:  # in the file's order, which becomes the project's
        fields = nodes[node_id].model_dump(exclude_none=True)
        if not set(fields["depends_on"]) <= present:
            fields.pop("depends_on")
            later.append(node_id)
        definitions.create_node(tx, project_id, fields, BUILTIN_IDS)
        present.add(node_id)
    updates: dict[str, dict[str, Any]] = {node_id: {} for node_id in later}
    for change in changes:
        if change.what == "node" and change.op == "update":
            updates[change.id] = {name: new for name, (_, new) in change.fields.items()}
    for node_id, fields in updates.items():
        depends_on = fields.pop("depends_on", nodes[node_id].depends_on if node_id in later else None)
        if depends_on is not None:  # every node it names exists by now: the flow's graph was checked whole
            definitions.replace_edges(tx, project_id, node_id, depends_on)
        definitions.update_node(tx, project_id, node_id, fields, BUILTIN_IDS)  # stores the rest; one node.updated
