// The state holder: plain data plus 'change'-style events per topic, so each component re-renders
// only what concerns it. Topics: connection, live, projects, templates, project, nodes, executions,
// runs, run-view (which run the canvas shows), selection, output (detail: the execution.output events
// of one message), notify.

import { clock } from './clock.js';
import { mergeExecution } from './format.js';
import {
  EVENT_TYPE, HUB_EVENT_TYPE, RUN_STATUS, SHOWN_FIRST_EXECUTION_STATUSES, UNFINISHED_EXECUTION_STATUSES,
  UNFINISHED_RUN_STATUSES,
} from './statuses.js';

const ACTIVE_RUN = new Set(UNFINISHED_RUN_STATUSES);
const AT_WORK = new Set(SHOWN_FIRST_EXECUTION_STATUSES);
const UNFINISHED = new Set(UNFINISHED_EXECUTION_STATUSES);

/** 0 at work, 1 queued, 2 ended: a node shows its execution of the lowest rank (the hub's rule too). */
const shownRank = (execution) => (AT_WORK.has(execution.status) ? 0 : UNFINISHED.has(execution.status) ? 1 : 2);
const newer = (a, b) => (a.created_at ?? 0) >= (b.created_at ?? 0);

export class Store extends EventTarget {
  constructor() {
    super();
    this.connection = { state: 'connecting', message: '' };
    this.live = { state: 'idle', message: '' };
    this.hubUrl = '';
    this.projects = [];
    this.projectsLoaded = false;
    this.templates = [];
    this.resetProject(null);
  }

  resetProject(projectId) {
    this.projectId = projectId;
    this.project = null;
    this.loaded = false;
    this.nodes = new Map();
    this.latest = new Map(); // node id -> the execution it shows (summary): see putExecution
    this.candidates = new Map(); // node id -> Map(execution id -> execution): its unfinished ones and its newest
    this.runs = new Map();
    this.runsBefore = null; // the id to load older runs before (GET /runs?before=), null: all loaded
    this.viewedRun = null; // a run id: the canvas and the node list show that run, not the latest
    this.viewedExecutions = new Map(); // execution id -> execution of the viewed run (retries included)
    this.activity = new Map(); // execution id -> time of its last output (performance.now())
    this.selectedNode = null;
    this.selectedEdge = null;
  }

  emit(topic, detail = null) {
    this.dispatchEvent(new CustomEvent(topic, { detail }));
  }

  on(topic, handler) {
    this.addEventListener(topic, handler);
    return () => this.removeEventListener(topic, handler);
  }

  setConnection(state, message = '') {
    if (this.connection.state === state && this.connection.message === message) return;
    this.connection = { state, message };
    this.emit('connection');
  }

  setLive(state, message = '') {
    this.live = { state, message };
    this.emit('live');
  }

  setProjects(projects) {
    this.projects = projects;
    this.projectsLoaded = true;
    if (this.projectId) {
      const mine = projects.find((p) => p.id === this.projectId);
      if (mine) this.project = mine;
    }
    this.emit('projects');
  }

  /** Hub feed events: the project list follows runs started anywhere, and projects made, changed, deleted. */
  applyHubEvents(events) {
    const projects = new Map(this.projects.map((p) => [p.id, p]));
    for (const event of events) {
      if (event.type === HUB_EVENT_TYPE.PROJECT_DELETED) projects.delete(event.project_id);
      else if (event.project) projects.set(event.project_id, event.project);
    }
    this.setProjects([...projects.values()]);
    // The Attention view (components/attention-view.js) reads its list again on these.
    const attention = [HUB_EVENT_TYPE.ATTENTION_CHANGED, HUB_EVENT_TYPE.RUN_FINISHED];
    if (events.some((event) => attention.includes(event.type))) this.emit('attention-changed', events);
  }

  /** The open project's node count in the list, from its own stream (the hub feed has no node events). */
  countNodes() {
    const index = this.projects.findIndex((p) => p.id === this.projectId);
    if (!this.loaded || index < 0 || this.projects[index].node_count === this.nodes.size) return;
    this.projects = this.projects.with(index, { ...this.projects[index], node_count: this.nodes.size });
    this.emit('projects');
  }

  setTemplates(templates) {
    this.templates = templates;
    this.emit('templates');
  }

  openProject(projectId) {
    this.resetProject(projectId);
    this.project = this.projects.find((p) => p.id === projectId) || null;
    this.emit('project');
    this.emit('nodes');
    this.emit('executions', []);
    this.emit('runs');
    this.emit('selection');
  }

  applySnapshot(snapshot) {
    this.project = snapshot.project;
    this.loaded = true;
    this.nodes = new Map(snapshot.nodes.map((n) => [n.id, n]));
    this.latest = new Map();
    this.candidates = new Map();
    // The snapshot also lists the latest executions of nodes deleted since: leave those out. Where runs
    // overlap, newer_executions has a node's newest beside the older one at work that it shows.
    for (const execution of [...snapshot.executions, ...(snapshot.newer_executions ?? [])]) {
      clock.observePast(execution.finished_at ?? execution.started_at ?? execution.created_at);
      if (this.nodes.has(execution.node_id)) this.putExecution(execution);
    }
    if (this.selectedNode && !this.nodes.has(this.selectedNode)) this.selectedNode = null;
    this.countNodes();
    this.emit('project');
    this.emit('nodes');
    this.emit('executions', snapshot.executions);
    this.emit('selection');
  }

  /** A page of runs from GET /runs (live run events are newer: they stay); `before`: the next page's cursor. */
  setRuns(runs, before = null) {
    for (const run of runs) if (!this.runs.has(run.id)) this.runs.set(run.id, run);
    this.runsBefore = before;
    this.emit('runs');
  }

  /** Show one run's executions on the canvas (null: the latest of each node again); addViewed fills it. */
  viewRun(runId) {
    this.viewedRun = runId;
    this.viewedExecutions = new Map();
    this.emit('run-view');
  }

  /** Executions of the viewed run read from the hub, merged with what live events said meanwhile. */
  addViewed(executions) {
    for (const execution of executions) this.putViewed(execution);
    this.emit('run-view');
  }

  putViewed(execution) {
    this.viewedExecutions.set(execution.id, mergeExecution(this.viewedExecutions.get(execution.id), execution));
  }

  /** node id -> the execution the canvas shows: its latest, or its last attempt in the viewed run. */
  shownExecutions() {
    if (!this.viewedRun) return this.latest;
    const shown = new Map();
    for (const execution of this.viewedExecutions.values()) {
      const current = shown.get(execution.node_id);
      if (!current || execution.created_at >= current.created_at) shown.set(execution.node_id, execution);
    }
    return shown;
  }

  applyEvents(events) {
    let nodes = false;
    let runs = false;
    const executions = [];
    const outputs = [];
    const now = performance.now();
    for (const event of events) {
      clock.observeLive(event.ts); // the hub's clock, for every duration on the page
      switch (event.type) {
        case EVENT_TYPE.NODE_CREATED:
        case EVENT_TYPE.NODE_UPDATED:
          this.nodes.set(event.node.id, event.node);
          nodes = true;
          break;
        case EVENT_TYPE.NODE_DELETED:
          this.nodes.delete(event.node_id);
          this.latest.delete(event.node_id);
          this.candidates.delete(event.node_id);
          if (this.selectedNode === event.node_id) this.selectedNode = null;
          nodes = true;
          break;
        case EVENT_TYPE.EXECUTION_QUEUED:
        case EVENT_TYPE.EXECUTION_STARTED:
        case EVENT_TYPE.EXECUTION_FINISHED:
        case EVENT_TYPE.EXECUTION_PARKED:
          if (event.run_id === this.viewedRun) this.putViewed(event.execution);
          if (!this.nodes.has(event.node_id)) break;
          this.putExecution({ ...event.execution, project_id: event.project_id });
          executions.push(event.execution);
          break;
        case EVENT_TYPE.EXECUTION_OUTPUT:
        case EVENT_TYPE.CHECK_STARTED:
        case EVENT_TYPE.CHECK_FINISHED:
          outputs.push(event);
          this.activity.set(event.execution_id, now);
          break;
        case EVENT_TYPE.RUN_STARTED:
        case EVENT_TYPE.RUN_FINISHED:
        case EVENT_TYPE.RUN_LANDED:
          this.runs.set(event.run.id, event.run);
          runs = true;
          break;
        default:
          break;
      }
    }
    if (nodes) {
      this.countNodes();
      this.emit('nodes');
      this.emit('selection');
    }
    if (executions.length) this.emit('executions', executions);
    if (runs) this.emit('runs');
    if (outputs.length) this.emit('output', outputs);
  }

  /**
   * A node shows one execution, also while runs overlap: one at work (running, a gate waiting), else one
   * queued, else its newest; the newest within each. So a newer run cancelled while an older one still has
   * the node running shows it running, as the hub's snapshot and the terminal client do.
   */
  putExecution(execution) {
    const nodeId = execution.node_id;
    const known = this.candidates.get(nodeId) ?? new Map();
    this.candidates.set(nodeId, known);
    known.set(execution.id, execution);
    let newest = null;
    for (const candidate of known.values()) if (!newest || newer(candidate, newest)) newest = candidate;
    for (const [id, candidate] of known) if (candidate !== newest && !UNFINISHED.has(candidate.status)) known.delete(id);
    let shown = null;
    for (const candidate of known.values()) {
      const order = shown ? shownRank(candidate) - shownRank(shown) : -1;
      if (order < 0 || (order === 0 && newer(candidate, shown))) shown = candidate;
    }
    this.latest.set(nodeId, shown);
  }

  /** Ids of the open project's unfinished runs, newest first (runs may overlap). */
  runningRuns() {
    const ids = new Set(this.project?.running_runs ?? []);
    for (const run of this.runs.values()) {
      if (ACTIVE_RUN.has(run.status)) ids.add(run.id);
      else ids.delete(run.id); // a live event newer than the project summary
    }
    const created = (id) => this.runs.get(id)?.created_at ?? 0;
    return [...ids].sort((a, b) => created(b) - created(a));
  }

  /** The newest run that has not finished, if any (from the project's summary when no event told of it). */
  currentRun() {
    const [id] = this.runningRuns();
    if (!id) return null;
    return this.runs.get(id) ?? { id, status: RUN_STATUS.RUNNING };
  }

  selectNode(nodeId) {
    this.selectedNode = nodeId && this.nodes.has(nodeId) ? nodeId : null;
    this.selectedEdge = null;
    this.emit('selection');
  }

  selectEdge(edge) {
    this.selectedEdge = edge;
    this.selectedNode = null;
    this.emit('selection');
  }

  /** Node ids that depend (directly or not) on `nodeId`. */
  downstreamOf(nodeId) {
    const found = new Set();
    const visit = (id) => {
      for (const node of this.nodes.values()) {
        if (node.depends_on.includes(id) && !found.has(node.id)) {
          found.add(node.id);
          visit(node.id);
        }
      }
    };
    visit(nodeId);
    return found;
  }
}
