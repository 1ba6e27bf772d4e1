// Plan-grown tasks as a group on the canvas: the tasks a plan node's agent added (node.planned_by) are
// drawn inside one box, which collapses into a single node that sums their statuses up ("3 tasks:
// ✓ 2 · ⟳ 1") and expands again. Pure functions: <orc-dag-canvas> turns what they give into Cytoscape
// elements, and remembers which groups are collapsed, per project, in localStorage.

import { statusIcon } from '../status-icons.js';
import { EXECUTION_STATUS } from '../statuses.js';

const S = EXECUTION_STATUS;
const PREFIX = 'group:';
// A collapsed group shows the first of these its tasks have (what needs looking at first), else
// succeeded when all did, else none (some never ran).
const GROUP_STATUS_ORDER = [S.RUNNING, S.WAITING, S.PARKED, S.FAILED, S.TIMED_OUT, S.INTERRUPTED, S.LOST,
  S.QUEUED, S.CANCELLED, S.SKIPPED];

export const groupId = (planId) => `${PREFIX}${planId}`;
export const isGroup = (id) => id.startsWith(PREFIX);
export const planOf = (id) => id.slice(PREFIX.length);

/** Plan node id -> ids of the tasks it grew (only plans still in the DAG, with at least one task). */
export function planGroups(nodes) {
  const groups = new Map();
  for (const node of nodes.values()) {
    if (!node.planned_by || !nodes.has(node.planned_by)) continue;
    if (!groups.has(node.planned_by)) groups.set(node.planned_by, []);
    groups.get(node.planned_by).push(node.id);
  }
  return groups;
}

/**
 * What the canvas draws: nodes ({id, parent?, group?, collapsed?}) and edges ({id, source, target}).
 * A collapsed group's tasks are one node; edges to and from them go to that node (once each), and
 * edges between them are left out.
 */
export function graphElements(nodes, groups, collapsed) {
  const shownAs = new Map(); // a task of a collapsed group -> that group's node
  const elements = { nodes: [], edges: [] };
  for (const [plan, tasks] of groups) {
    const folded = collapsed.has(plan);
    elements.nodes.push({ id: groupId(plan), group: plan, collapsed: folded });
    for (const task of tasks) if (folded) shownAs.set(task, groupId(plan));
  }
  for (const node of nodes.values()) {
    if (shownAs.has(node.id)) continue;
    const parent = node.planned_by && groups.has(node.planned_by) ? groupId(node.planned_by) : undefined;
    elements.nodes.push(parent ? { id: node.id, parent } : { id: node.id });
  }
  const seen = new Set();
  for (const node of nodes.values()) {
    const target = shownAs.get(node.id) ?? node.id;
    for (const up of node.depends_on) {
      if (!nodes.has(up)) continue;
      const source = shownAs.get(up) ?? up;
      const id = `${source}->${target}`;
      if (source === target || seen.has(id)) continue;
      seen.add(id);
      elements.edges.push({ id, source, target });
    }
  }
  return elements;
}

/** A collapsed group's status and the count of its tasks per status ("✓ 2 · ⟳ 1"). */
export function groupSummary(tasks, latest) {
  const counts = new Map();
  for (const task of tasks) {
    const status = latest.get(task)?.status || 'none';
    counts.set(status, (counts.get(status) || 0) + 1);
  }
  const first = GROUP_STATUS_ORDER.find((status) => counts.has(status));
  const status = first ?? (counts.size === 1 && counts.has(S.SUCCEEDED) ? S.SUCCEEDED : 'none');
  const text = [...counts].sort((a, b) => b[1] - a[1]).map(([st, n]) => `${statusIcon(st)} ${n}`).join(' · ');
  return { status, text };
}

/** The groups collapsed in a project, as remembered in this browser. */
export function loadCollapsed(projectId) {
  try {
    const stored = JSON.parse(localStorage.getItem(`orc.dag.collapsed.${projectId}`) || '[]');
    return new Set(Array.isArray(stored) ? stored.filter((id) => typeof id === 'string') : []);
  } catch {
    return new Set();
  }
}

export function saveCollapsed(projectId, collapsed) {
  const key = `orc.dag.collapsed.${projectId}`;
  if (collapsed.size) localStorage.setItem(key, JSON.stringify([...collapsed]));
  else localStorage.removeItem(key);
}
