// The hub's REST API and its WebSocket subscriptions (a project's stream, and the hub feed).
//
// Every REST failure becomes an ApiError whose message is words a person can read: the hub's own
// error message when it sent one ({"error": {"code", "message", "details"}}), otherwise what went
// wrong on the way (unreachable, timed out, not JSON). The client fires 'unreachable' and
// 'unauthorized' events so the connection monitor can show the banner.

import { MESSAGE_TYPE } from './statuses.js';

const REQUEST_TIMEOUT_MS = 20000;

export class ApiError extends Error {
  constructor(message, { status = 0, code = 'error', details = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export class HubClient extends EventTarget {
  constructor(baseUrl, token) {
    super();
    this.baseUrl = baseUrl;
    this.token = token;
  }

  async request(method, path, body, { auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), cache: 'no-store',
      });
    } catch (error) {
      const why = error?.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : 'connection failed';
      this.dispatchEvent(new Event('unreachable'));
      throw new ApiError(`Cannot reach the hub at ${this.baseUrl} (${why}).`, { code: 'unreachable' });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (response.status === 401) this.dispatchEvent(new Event('unauthorized'));
    if (!response.ok) {
      const error = data && data.error;
      const message = error?.message
        || `${method} ${path} failed: HTTP ${response.status} ${response.statusText}`.trim();
      throw new ApiError(message, { status: response.status, code: error?.code || 'http_error',
        details: error?.details ?? null });
    }
    if (text && data === null) {
      throw new ApiError(`${method} ${path}: the hub's answer is not JSON`, { status: response.status });
    }
    return data;
  }

  get(path) { return this.request('GET', path); }
  post(path, body = {}) { return this.request('POST', path, body); }
  patch(path, body) { return this.request('PATCH', path, body); }
  delete(path) { return this.request('DELETE', path); }

  health() { return this.request('GET', '/health', undefined, { auth: false }); }

  async projects() { return (await this.get('/projects')).projects; }
  /** One project, with its totals (tokens and cost over every execution). */
  project(id) { return this.get(`/projects/${enc(id)}`); }
  createProject(fields) { return this.post('/projects', fields); }
  updateProject(id, fields) { return this.patch(`/projects/${enc(id)}`, fields); }
  deleteProject(id) { return this.delete(`/projects/${enc(id)}`); }

  async templates() { return (await this.get('/agent-templates')).agent_templates; }
  /** Add a user template: {id, name, command: [argv…], output, default_model?, resume_command?, stdin_prompt?, env?}. */
  createTemplate(fields) { return this.post('/agent-templates', fields); }
  deleteTemplate(id) { return this.delete(`/agent-templates/${enc(id)}`); }
  /** Look for every template's CLI again: {availability: {id: report}}. */
  checkTemplates() { return this.post('/agent-templates/check'); }
  /** Look for one template's CLI now: the template with its `availability`. */
  checkTemplate(id) { return this.post(`/agent-templates/${enc(id)}/check`); }

  createNode(projectId, fields) { return this.post(`/projects/${enc(projectId)}/nodes`, fields); }
  updateNode(projectId, nodeId, fields) { return this.patch(`/projects/${enc(projectId)}/nodes/${enc(nodeId)}`, fields); }
  deleteNode(projectId, nodeId) { return this.delete(`/projects/${enc(projectId)}/nodes/${enc(nodeId)}`); }

  /** `options`: more of the launch body, e.g. {budget: {cost_usd, tokens, wall_s}} for the whole run. */
  launch(projectId, nodeIds, options = {}) {
    return this.post('/launch', { project_id: projectId, ...(nodeIds ? { node_ids: nodeIds } : {}), ...options });
  }
  /** A page of a project's runs, newest first, each with trigger and totals: {runs, next_before}. */
  runs(projectId, { limit = 50, before = null } = {}) {
    const query = new URLSearchParams({ project_id: projectId, limit: String(limit) });
    if (before) query.set('before', before);
    return this.get(`/runs?${query}`);
  }
  cancelRun(runId) { return this.post(`/runs/${enc(runId)}/cancel`); }
  landRun(runId) { return this.post(`/runs/${enc(runId)}/land`); }
  /** Every execution of a run (retries included), oldest first, without the bulky fields. */
  async runExecutions(runId) {
    const all = [];
    let before = null;
    do {
      const page = await this.executions({ run_id: runId, limit: 500, ...(before ? { before } : {}) });
      all.push(...page.executions);
      before = page.next_before;
    } while (before);
    return all.reverse();
  }

  executions(filters) { return this.get(`/executions?${new URLSearchParams(filters)}`); }
  execution(id) { return this.get(`/executions/${enc(id)}`); }
  eventsTail(id, count) { return this.get(`/executions/${enc(id)}/events?tail=${count}`); }
  /** Stored events after `after`, oldest first: {events, next_after} (null on the last page). */
  events(id, after = 0, limit = 10000) { return this.get(`/executions/${enc(id)}/events?after=${after}&limit=${limit}`); }
  cancelExecution(id) { return this.post(`/executions/${enc(id)}/cancel`); }
  resumeExecution(id) { return this.post(`/executions/${enc(id)}/resume`); }
  /** Decide a waiting gate: downstream runs (approve) or is skipped (reject); the comment is its result. */
  /** `choice`: a best-of-N pick's {candidate}, a plan review's edited {plan}. */
  approve(id, comment, choice = {}) {
    return this.post(`/executions/${enc(id)}/approve`, { ...(comment ? { comment } : {}), ...choice });
  }
  reject(id, comment) { return this.post(`/executions/${enc(id)}/reject`, comment ? { comment } : {}); }
  /** {execution_id, branch, base_commit, commit, files: [{path, added, removed}], diff} */
  diff(id) { return this.get(`/executions/${enc(id)}/diff`); }
  /** Continue the agent's session: 202 {run_id, executions}. */
  followUp(id, prompt) { return this.post(`/executions/${enc(id)}/follow-up`, { prompt }); }

  subscribe(projectId, handlers) {
    return new Subscription(this, `/ws/subscribe/${enc(projectId)}`, handlers);
  }

  /** The hub feed: every project's project and run events (snapshot: {seq, projects}). */
  subscribeHub(handlers) {
    return new Subscription(this, '/ws/hub', handlers);
  }
}

function enc(value) {
  return encodeURIComponent(value);
}

// Close codes the hub uses (orchestra/api/ws.py and events.py).
const TOO_SLOW = 4008;
const UNKNOWN_PROJECT = 4404;
const BAD_REQUEST = 4400;
const BACKOFF_MS = [250, 500, 1000, 2000, 3000, 5000];

/**
 * A live subscription to one stream (a project's events, or the hub feed) that survives drops: it
 * reconnects with `since` = the last seq it delivered, so nothing is missed or seen twice. The first
 * connection (and a resync) asks for a snapshot instead.
 *
 * handlers: onSnapshot(snapshot), onEvents(events[]), onState(state, message) where state is
 * 'connecting' | 'live' | 'reconnecting' | 'gone'.
 */
export class Subscription {
  constructor(client, path, handlers) {
    this.client = client;
    this.path = path;
    this.handlers = handlers;
    this.lastSeq = null;
    this.closed = false;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.open();
  }

  url() {
    const params = new URLSearchParams({ token: this.client.token });
    if (this.lastSeq !== null) params.set('since', String(this.lastSeq));
    const base = this.client.baseUrl.replace(/^http/, 'ws');
    return `${base}${this.path}?${params}`;
  }

  open() {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.handlers.onState?.(this.attempt ? 'reconnecting' : 'connecting', '');
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch (error) {
      this.retry(`cannot open the live connection: ${error.message}`);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.handlers.onState?.('live', '');
    };
    socket.onmessage = (message) => {
      if (socket === this.socket) this.receive(message.data);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket || this.closed) return;
      this.socket = null;
      this.closedWith(event);
    };
  }

  receive(text) {
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      console.warn('orchestra: a live message is not JSON; resyncing');
      this.resync();
      return;
    }
    if (!Array.isArray(data) && data.type === MESSAGE_TYPE.SNAPSHOT) {
      this.lastSeq = data.seq;
      this.handlers.onSnapshot(data);
      return;
    }
    const events = (Array.isArray(data) ? data : [data]).filter((e) => this.lastSeq === null || e.seq > this.lastSeq);
    if (!events.length) return;
    if (this.lastSeq !== null && events[0].seq !== this.lastSeq + 1) {
      console.warn(`orchestra: events ${this.lastSeq + 1}..${events[0].seq - 1} missing; resyncing`);
      this.resync();
      return;
    }
    this.lastSeq = events[events.length - 1].seq;
    this.handlers.onEvents(events);
  }

  closedWith(event) {
    if (event.code === UNKNOWN_PROJECT) {
      this.closed = true;
      this.handlers.onState?.('gone', event.reason || 'the project does not exist on this hub');
      return;
    }
    if (event.code === BAD_REQUEST) this.lastSeq = null;
    if (event.code === TOO_SLOW) {
      // The hub dropped us for falling behind; pick up where we were, straight away.
      this.attempt = 1;
      this.open();
      return;
    }
    const why = event.code === 1001 ? 'the hub is stopping'
      : event.reason || `live connection lost (code ${event.code})`;
    this.retry(why);
  }

  retry(message) {
    if (this.closed) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.handlers.onState?.('reconnecting', message);
    this.client.dispatchEvent(new Event('dropped'));
    this.timer = setTimeout(() => this.open(), delay);
  }

  /** Reconnect now (the hub is back), keeping `since`. */
  reconnectNow() {
    if (this.closed || (this.socket && this.socket.readyState <= WebSocket.OPEN)) return;
    this.open();
  }

  /** Drop what we have and start again from a snapshot. */
  resync() {
    this.lastSeq = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.attempt = 1;
    this.open();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }
}
