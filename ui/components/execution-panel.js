// <orc-execution-panel>: the selected node's execution: status, duration, tokens, cost, its live
// agent stream (<orc-event-log>), the prompt actually sent, stderr, and the node's earlier
// executions. It follows the node's newest execution until the user picks an older one.

import { actionButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';
import {
  ACTIVE, FAILED, cost, duration, executionDuration, mergeExecution, statusLabel, time, tokens,
} from '../format.js';
import { EVENT_TYPE, EXECUTION_STATUS } from '../statuses.js';
import './event-log.js';

const TAIL = 2000; // stored events read when an execution is opened (the log shows the newest 1,500)

class ExecutionPanel extends AppElement {
  attach() {
    if (!this.log) {
      this.head = h('div', { class: 'exec-head' });
      this.history = h('details', { class: 'history', open: true });
      this.extra = h('div', { class: 'exec-extra' });
      this.log = document.createElement('orc-event-log');
      render(this, this.head, this.history, this.extra, this.log);
      this.nodeId = null;
      this.execution = null;
    }
    this.listen('selection', () => this.select(this.store.selectedNode));
    this.listen('project', () => this.select(null));
    this.listen('executions', (event) => this.executionsChanged(event.detail || []));
    this.listen('output', (event) => this.output(event.detail));
    this.listen('connection', () => this.renderHead());
    this.ticker = setInterval(() => {
      if (this.execution && this.execution.status === EXECUTION_STATUS.RUNNING) this.renderHead();
    }, 1000);
    this.select(this.store.selectedNode, true);
  }

  detach() {
    clearInterval(this.ticker);
  }

  select(nodeId, force = false) {
    if (nodeId === this.nodeId && !force) return;
    this.nodeId = nodeId;
    this.follow = true;
    this.executions = [];
    const latest = nodeId ? this.store.latest.get(nodeId) : null;
    this.show(latest || null);
    if (nodeId) this.loadHistory();
  }

  /** Show one execution: its summary now, then its full record and its stored events. */
  async show(execution) {
    this.execution = execution;
    this.token = Symbol('show');
    const token = this.token;
    this.lastSeq = 0;
    this.pending = [];
    this.loading = Boolean(execution);
    this.log.reset(execution ? 'Loading the agent output…' : (this.nodeId ? 'This node has not run yet.' : ''));
    this.renderHead();
    this.renderHistory();
    this.renderExtra();
    if (!execution) return;
    try {
      this.details(execution.id);
      // Only the newest events: the log keeps the last CAP entries anyway.
      const page = await this.app.client.eventsTail(execution.id, TAIL);
      if (token !== this.token) return;
      const outputs = page.events.filter((e) => e.type === EVENT_TYPE.EXECUTION_OUTPUT);
      if (outputs.length) this.log.push(outputs);
      if (page.events.length) this.lastSeq = page.events[page.events.length - 1].seq;
      this.loading = false;
      const live = this.pending.filter((e) => e.seq > this.lastSeq);
      if (live.length) {
        this.log.push(live);
        this.lastSeq = live[live.length - 1].seq;
      }
      this.pending = [];
      if (!this.log.count) this.log.setStatus(ACTIVE.has(this.execution.status) ? 'Waiting for output…' : 'No output.');
    } catch (error) {
      if (token !== this.token) return;
      this.loading = false;
      this.log.setStatus(`Could not load the agent output: ${error.message}`);
    }
  }

  async details(executionId) {
    try {
      const full = await this.app.client.execution(executionId);
      if (this.execution && this.execution.id === executionId) {
        this.execution = mergeExecution(this.execution, full);
        this.renderHead();
        this.renderExtra();
      }
    } catch (error) {
      this.actions.notify('error', `Loading execution ${executionId} failed: ${error.message}`);
    }
  }

  async loadHistory() {
    const nodeId = this.nodeId;
    try {
      const page = await this.app.client.executions({ project_id: this.store.projectId, node_id: nodeId, limit: 50 });
      if (nodeId !== this.nodeId) return;
      const live = new Map(this.executions.map((e) => [e.id, e]));
      this.executions = page.executions.map((e) => mergeExecution(live.get(e.id), e));
      for (const e of live.values()) if (!this.executions.some((x) => x.id === e.id)) this.executions.unshift(e);
      this.renderHistory();
    } catch (error) {
      if (nodeId === this.nodeId) render(this.history, h('summary', {}, 'History'),
        h('p', { class: 'form-error' }, `Could not load the history: ${error.message}`));
    }
  }

  executionsChanged(changed) {
    if (!this.nodeId) return;
    const mine = changed.filter((e) => e.node_id === this.nodeId);
    if (!mine.length) return;
    let historyChanged = false;
    for (const execution of mine) {
      const index = this.executions.findIndex((e) => e.id === execution.id);
      if (index >= 0) this.executions[index] = mergeExecution(this.executions[index], execution);
      else this.executions.unshift(execution);
      historyChanged = true;
    }
    const latest = this.store.latest.get(this.nodeId);
    if (this.follow && latest && (!this.execution || latest.id !== this.execution.id)) {
      this.show(latest);
      return;
    }
    const current = this.execution && mine.find((e) => e.id === this.execution.id);
    if (current) {
      this.execution = mergeExecution(this.execution, current);
      this.renderHead();
      if (!ACTIVE.has(current.status)) {
        this.details(current.id);
        if (!this.log.count && !this.loading) this.log.setStatus('No output.');
      }
    }
    if (historyChanged) this.renderHistory();
  }

  output(events) {
    if (!this.execution) return;
    const id = this.execution.id;
    const mine = events.filter((e) => e.execution_id === id);
    if (!mine.length) return;
    if (this.loading) {
      for (const event of mine) this.pending.push(event);
      return;
    }
    const fresh = mine.filter((e) => e.seq > this.lastSeq);
    if (!fresh.length) return;
    this.lastSeq = fresh[fresh.length - 1].seq;
    this.log.push(fresh);
  }

  renderHead() {
    const node = this.nodeId ? this.store.nodes.get(this.nodeId) : null;
    const e = this.execution;
    if (!node) {
      render(this.head);
      return;
    }
    const status = e?.status || 'none';
    this.dataset.status = status;
    const online = this.store.connection.state === 'online';
    const fact = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
    render(this.head,
      h('h3', {}, node.title, ' ',
        h('span', { class: `badge status-${status}`, 'data-role': 'status' },
          status === 'none' ? 'not run yet' : statusLabel(status)),
        status === EXECUTION_STATUS.RUNNING ? h('span', { class: 'spinner', 'aria-label': statusLabel(status) }) : null),
      e ? h('dl', { class: 'facts' },
        fact('Execution', h('code', {}, e.id)),
        fact('Attempt', String(e.attempt ?? 1)),
        fact('Started', time(e.started_at)),
        fact('Duration', duration(executionDuration(e))),
        fact('Tokens', tokens(e)),
        fact('Cost', cost(e.cost_usd)),
        fact('Exit code', e.exit_code ?? '–'),
        fact('Model', e.model || '–')) : null,
      e?.error ? h('p', { class: 'exec-error', role: 'alert' }, e.error) : null,
      h('div', { class: 'row' },
        e && ACTIVE.has(e.status) ? actionButton('■ Cancel execution',
          () => this.actions.cancelExecution(e.id).catch(() => {}),
          { class: 'danger', 'data-action': 'cancel-execution', disabled: !online }) : null,
        actionButton(e && FAILED.has(e.status) ? '↻ Re-run from here' : '▶ Run from here',
          () => this.actions.launch([node.id]).catch(() => {}),
          { 'data-action': 'panel-run-from', disabled: !online }),
        this.follow ? null : h('button', { type: 'button', class: 'link', onclick: () => {
          this.follow = true;
          this.show(this.store.latest.get(this.nodeId) || null);
        } }, 'Back to the latest')));
  }

  renderHistory() {
    const list = this.executions || [];
    const shown = this.execution?.id;
    render(this.history, h('summary', {}, `History (${list.length})`),
      list.length ? h('ol', { class: 'history-list' }, list.map((e) => h('li', {},
        h('button', { type: 'button', class: e.id === shown ? 'current' : '', dataset: { executionId: e.id },
          onclick: () => {
            this.follow = e.id === this.store.latest.get(this.nodeId)?.id;
            this.show(e);
          } },
        h('span', { class: `badge status-${e.status}` }, statusLabel(e.status)),
        ` ${time(e.started_at || e.created_at)} · ${duration(executionDuration(e))}`,
        e.attempt > 1 ? ` · attempt ${e.attempt}` : '')))) : h('p', { class: 'muted' }, 'No execution yet.'));
  }

  renderExtra() {
    const e = this.execution;
    if (!e) {
      render(this.extra);
      return;
    }
    render(this.extra,
      e.result_text ? h('details', { class: 'result' }, h('summary', {}, 'Final result'), h('pre', {}, e.result_text)) : null,
      e.prompt ? h('details', { class: 'prompt' }, h('summary', {}, 'Prompt sent'), h('pre', {}, e.prompt)) : null,
      e.stderr ? h('details', { class: 'stderr' }, h('summary', {}, 'Standard error'), h('pre', {}, e.stderr)) : null);
  }
}

customElements.define('orc-execution-panel', ExecutionPanel);
