// The state holder: plain data plus 'change'-style events per topic, so each component re-renders
// only what concerns it. Topics: connection, live, projects, templates, project, nodes, executions,
// runs, run-view (which run the canvas shows), selection, output (detail: the execution.output events
// of one message), notify.

import { clock } from './clock.js';
import { mergeExecution } from './format.js';
import { EVENT_TYPE, HUB_EVENT_TYPE, UNFINISHED_RUN_STATUSES } from './statuses.js';

const ACTIVE_RUN = new Set(UNFINISHED_RUN_STATUSES);

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
    this.latest = new Map(); // node id -> its latest execution (summary)
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
    // The snapshot also lists the latest executions of nodes deleted since: leave those out.
    for (const execution of snapshot.executions) {
      clock.observePast(execution.finished_at ?? execution.started_at ?? execution.created_at);
      if (this.nodes.has(execution.node_id)) this.latest.set(execution.node_id, execution);
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

  putExecution(execution) {
    const current = this.latest.get(execution.node_id);
    if (!current || current.id === execution.id || (execution.created_at ?? 0) >= (current.created_at ?? 0)) {
      this.latest.set(execution.node_id, execution);
    }
  }

  /** The newest run that has not finished, if any. */
  currentRun() {
    let best = null;
    for (const run of this.runs.values()) {
      if (ACTIVE_RUN.has(run.status) && (!best || run.created_at > best.created_at)) best = run;
    }
    return best;
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
