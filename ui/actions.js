// What the user can do, as calls to the hub. Each action reports its failure in words (a toast via
// the store's 'notify' topic) and rethrows, so a form can also show the message next to its fields.

import { FAILED, landedText } from './format.js';
import { setFragmentProject } from './settings.js';
import { EVENT_TYPE } from './statuses.js';

// How long the first connection waits for the hub feed's snapshot (the project list) before it says so.
const FEED_WAIT_MS = 15000;

export class Actions {
  constructor(store, client) {
    this.store = store;
    this.client = client;
    this.subscription = null;
    this.hubFeed = null;
    this.hubReady = null;
  }

  notify(kind, text) {
    this.store.emit('notify', { kind, text });
  }

  async attempt(what, fn) {
    try {
      return await fn();
    } catch (error) {
      this.notify('error', `${what} failed: ${error.message}`);
      throw error;
    }
  }

  async loadTemplates() {
    this.store.setTemplates(await this.client.templates());
  }

  /** Everything the page shows, fetched again (first connection, the hub came back). */
  async refresh() {
    await Promise.all([this.followHub(), this.loadTemplates()]);
    if (this.store.projectId) {
      if (!this.subscription) this.subscribe(this.store.projectId);
      else this.subscription.reconnectNow();
      this.loadRuns().catch(() => {});
    }
  }

  openProject(projectId) {
    this.subscription?.close();
    this.subscription = null;
    this.store.openProject(projectId);
    setFragmentProject(projectId);
    if (!projectId) return;
    this.subscribe(projectId);
    this.loadRuns().catch((error) => this.notify('error', `Loading the runs failed: ${error.message}`));
  }

  /**
   * The project list comes from the hub feed (a snapshot, then every project's project and run events,
   * so a run started by curl or another browser shows at once): resolves once the list is loaded.
   */
  followHub() {
    if (this.hubFeed) {
      this.hubFeed.reconnectNow(); // with since: what happened meanwhile is replayed
      return this.store.projectsLoaded ? Promise.resolve() : this.hubReady;
    }
    let loaded;
    this.hubReady = new Promise((resolve, reject) => {
      loaded = resolve;
      setTimeout(() => reject(new Error(`the project list did not arrive within ${FEED_WAIT_MS / 1000} s`)), FEED_WAIT_MS);
    });
    this.hubFeed = this.client.subscribeHub({
      onSnapshot: (snapshot) => {
        this.store.setProjects(snapshot.projects);
        loaded();
      },
      onEvents: (events) => this.store.applyHubEvents(events),
    });
    return this.hubReady;
  }

  subscribe(projectId) {
    const store = this.store;
    this.subscription = this.client.subscribe(projectId, {
      onSnapshot: (snapshot) => store.applySnapshot(snapshot),
      onEvents: (events) => store.applyEvents(events),
      onState: (state, message) => {
        store.setLive(state, message);
        if (state === 'gone') {
          this.notify('error', `Project ${projectId} is gone: ${message}`);
          this.openProject(null);
        }
      },
    });
  }

  /** A page of the open project's runs (older ones: `before`, the last run id of the previous page). */
  async loadRuns(before = null) {
    const projectId = this.store.projectId;
    const page = await this.client.runs(projectId, { before });
    if (this.store.projectId === projectId) this.store.setRuns(page.runs, page.next_before);
    return page;
  }

  /** Show a run's executions on the canvas and in the timeline (null: back to the latest). */
  async viewRun(runId) {
    if (!runId) {
      this.store.viewRun(null);
      return;
    }
    this.store.viewRun(runId); // live events of the run count from now on
    let executions;
    try {
      executions = await this.attempt(`Loading run ${runId}`, () => this.client.runExecutions(runId));
    } catch (error) {
      if (this.store.viewedRun === runId) this.store.viewRun(null);
      throw error;
    }
    if (this.store.viewedRun === runId) this.store.addViewed(executions);
  }

  close() {
    this.subscription?.close();
    this.subscription = null;
    this.hubFeed?.close();
    this.hubFeed = null;
  }

  // -- projects --------------------------------------------------------------------------------

  async createProject(fields) {
    const project = await this.attempt('Creating the project', () => this.client.createProject(fields));
    this.openProject(project.id);
    this.notify('info', `Project "${project.name}" created.`);
    return project;
  }

  async updateProject(projectId, fields) {
    return this.attempt('Saving the project', () => this.client.updateProject(projectId, fields));
  }

  async deleteProject(projectId) {
    await this.attempt('Deleting the project', () => this.client.deleteProject(projectId));
    if (this.store.projectId === projectId) this.openProject(null);
    this.notify('info', 'Project deleted.');
  }

  // -- agent templates ---------------------------------------------------------------------------

  /** Add a user template, then look for its CLI at once so the list shows whether it is there. */
  async createTemplate(fields) {
    const template = await this.attempt('Adding the template', () => this.client.createTemplate(fields));
    this.putTemplate(template);
    this.notify('info', `Template "${template.name}" added.`);
    await this.checkTemplate(template.id).catch(() => {});
    return template;
  }

  async deleteTemplate(id) {
    await this.attempt(`Deleting template "${id}"`, () => this.client.deleteTemplate(id));
    this.store.setTemplates(this.store.templates.filter((t) => t.id !== id));
    this.notify('info', `Template "${id}" deleted.`);
  }

  async checkTemplate(id) {
    this.putTemplate(await this.attempt(`Checking template "${id}"`, () => this.client.checkTemplate(id)));
  }

  /** Look for every template's CLI again (e.g. after installing one), then show the new reports. */
  async recheckTemplates() {
    await this.attempt('Checking the agent CLIs', () => this.client.checkTemplates());
    await this.attempt('Loading the templates', () => this.loadTemplates());
  }

  putTemplate(template) {
    const templates = this.store.templates;
    this.store.setTemplates(templates.some((t) => t.id === template.id)
      ? templates.map((t) => (t.id === template.id ? { ...t, ...template } : t)) : [...templates, template]);
  }

  // -- nodes -----------------------------------------------------------------------------------

  async createNode(fields) {
    const node = await this.attempt('Creating the node',
      () => this.client.createNode(this.store.projectId, fields));
    this.store.nodes.set(node.id, node); // the node.created event will say the same
    this.store.emit('nodes');
    this.store.selectNode(node.id);
    return node;
  }

  async updateNode(nodeId, fields) {
    const node = await this.attempt(`Saving node "${nodeId}"`,
      () => this.client.updateNode(this.store.projectId, nodeId, fields));
    this.store.nodes.set(node.id, node);
    this.store.emit('nodes');
    return node;
  }

  async deleteNode(nodeId) {
    await this.attempt(`Deleting node "${nodeId}"`, () => this.client.deleteNode(this.store.projectId, nodeId));
    this.store.applyEvents([{ type: EVENT_TYPE.NODE_DELETED, node_id: nodeId }]);
  }

  /** Make `target` depend on `source` (an edge source -> target). */
  async connect(source, target) {
    const node = this.store.nodes.get(target);
    if (!node || node.depends_on.includes(source)) return;
    await this.attempt(`Connecting "${source}" → "${target}"`,
      () => this.client.updateNode(this.store.projectId, target, { depends_on: [...node.depends_on, source] }))
      .then((updated) => { this.store.nodes.set(updated.id, updated); this.store.emit('nodes'); });
  }

  async disconnect(source, target) {
    const node = this.store.nodes.get(target);
    if (!node) return;
    const depends = node.depends_on.filter((id) => id !== source);
    const updated = await this.attempt(`Removing the dependency "${source}" → "${target}"`,
      () => this.client.updateNode(this.store.projectId, target, { depends_on: depends }));
    this.store.nodes.set(updated.id, updated);
    this.store.selectEdge(null);
    this.store.emit('nodes');
  }

  // -- runs ------------------------------------------------------------------------------------

  /** Launch the DAG (`nodeIds` null) or those nodes and downstream; `options` go into the body (a run budget). */
  async launch(nodeIds = null, options = {}) {
    const what = nodeIds ? `Launching ${nodeIds.join(', ')} and downstream` : 'Launching the DAG';
    const result = await this.attempt(what, () => this.client.launch(this.store.projectId, nodeIds, options));
    this.notify('info', `Run ${result.run_id} started: ${result.executions.length} execution(s).`);
    return result;
  }

  /** The failed nodes no other failed node is upstream of: re-running them re-runs every failed one. */
  failedRoots() {
    const failed = [...this.store.latest.values()].filter((e) => FAILED.has(e.status)).map((e) => e.node_id);
    return failed.filter((id) => !failed.some((other) => other !== id && this.store.downstreamOf(other).has(id)));
  }

  async cancelRun(runId) {
    await this.attempt(`Cancelling run ${runId}`, () => this.client.cancelRun(runId));
    this.notify('info', `Cancelling run ${runId}…`);
  }

  /** Land a finished run's work as its project's land node says (merge, push, pull request). */
  async landRun(runId) {
    const run = await this.attempt(`Landing run ${runId}`, () => this.client.landRun(runId));
    this.notify('info', `Run ${runId} landed: ${landedText(run.landed)}`);
  }

  async cancelExecution(executionId) {
    await this.attempt(`Cancelling execution ${executionId}`, () => this.client.cancelExecution(executionId));
    this.notify('info', `Cancelling execution ${executionId}…`);
  }

  /** A parked execution (a usage limit) goes on now rather than at its resume_at. */
  async resumeExecution(executionId) {
    await this.attempt(`Resuming execution ${executionId}`, () => this.client.resumeExecution(executionId));
    this.notify('info', `Resuming execution ${executionId}…`);
  }

  /** Approve (`approve` true) or reject a waiting gate, with an optional comment; `choice` is a best-of-N
   * pick's {candidate} or a plan review's edited {plan}. */
  async decide(executionId, approve, comment, choice = {}) {
    const verb = approve ? 'Approving' : 'Rejecting';
    const result = await this.attempt(`${verb} gate ${executionId}`,
      () => (approve ? this.client.approve(executionId, comment, choice) : this.client.reject(executionId, comment)));
    this.notify('info', choice.candidate ? `Picked ${choice.candidate}: the run goes on.`
      : approve ? 'Gate approved: the run goes on.' : 'Gate rejected: what depends on it is skipped.');
    return result;
  }

  /** Continue an execution's agent session with a new prompt: a new, linked execution. */
  async followUp(executionId, prompt) {
    const result = await this.attempt(`Following up on ${executionId}`, () => this.client.followUp(executionId, prompt));
    this.notify('info', `Follow-up ${result.executions[0]?.id ?? ''} started.`);
    return result;
  }
}
