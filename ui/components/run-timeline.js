// <orc-run-timeline>: a Gantt chart of one run (its `run` property): a row per node, a bar per
// execution — each retry is a bar of its own — split into the time it spent queued and the time it
// ran (an agent) or waited for a decision (a gate), coloured by how it ended. Drawn from the store's
// viewed run (store.viewedExecutions), so live events of a running run extend it as they come.

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { clock } from '../clock.js';
import { elapsed, statusLabel } from '../format.js';
import { EXECUTION_STATUS, NODE_KIND, UNFINISHED_EXECUTION_STATUSES } from '../statuses.js';

const ACTIVE = new Set(UNFINISHED_EXECUTION_STATUSES);
const STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
const MAX_TICKS = 6;

/** The spans of one execution, in seconds since the epoch: [kind, from, to]; kind is the status it had. */
function spans(execution, now) {
  const end = execution.finished_at ?? now;
  const started = execution.started_at;
  const queuedUntil = started ?? end;
  const out = [[EXECUTION_STATUS.QUEUED, execution.created_at, queuedUntil]];
  if (started) {
    const gate = execution.agent === NODE_KIND.GATE;
    out.push([gate ? EXECUTION_STATUS.WAITING : EXECUTION_STATUS.RUNNING, started, end]);
  }
  return out;
}

class RunTimeline extends AppElement {
  set run(run) {
    this._run = run;
    if (this.app && this.isConnected) this.schedule();
  }

  get run() { return this._run; }

  attach() {
    this.listen('executions', () => this.schedule());
    this.listen('run-view', () => this.schedule());
    this.listen('nodes', () => this.schedule());
    this.ticker = setInterval(() => {
      if ([...this.store.viewedExecutions.values()].some((e) => ACTIVE.has(e.status))) this.schedule();
    }, 1000);
    this.update();
  }

  detach() {
    clearInterval(this.ticker);
  }

  update() {
    const run = this._run;
    const executions = run ? [...this.store.viewedExecutions.values()].filter((e) => e.run_id === run.id) : [];
    if (!run || !executions.length) {
      render(this, h('p', { class: 'muted empty' }, run ? 'Loading the run…' : ''));
      return;
    }
    const now = clock.now(); // the hub's time: the run's timestamps are the hub's
    const start = Math.min(run.created_at, ...executions.map((e) => e.created_at));
    const end = Math.max(start + 0.001, ...executions.map((e) => e.finished_at ?? now));
    const scale = (t) => ((t - start) / (end - start)) * 100;
    const byNode = new Map();
    for (const execution of executions.sort((a, b) => a.created_at - b.created_at)) {
      if (!byNode.has(execution.node_id)) byNode.set(execution.node_id, []);
      byNode.get(execution.node_id).push(execution);
    }
    // Rows in the order the nodes began work: what started first is on top.
    const began = (list) => Math.min(...list.map((e) => e.started_at ?? e.finished_at ?? now));
    const rows = [...byNode.entries()].sort((a, b) => began(a[1]) - began(b[1]) || a[1][0].created_at - b[1][0].created_at);
    render(this,
      h('div', { class: 'tl-axis', 'aria-hidden': 'true' }, h('span', { class: 'tl-label' }),
        h('div', { class: 'tl-ticks' }, this.ticks(end - start))),
      h('ol', { class: 'tl-rows', 'aria-label': `Timeline of run ${run.id}` },
        rows.map(([nodeId, list]) => this.row(nodeId, list, scale, now))),
      h('p', { class: 'tl-legend muted' },
        [EXECUTION_STATUS.QUEUED, EXECUTION_STATUS.RUNNING, EXECUTION_STATUS.WAITING].map((kind) =>
          h('span', { class: 'legend-item' }, h('span', { class: `tl-key tl-${kind}` }), statusLabel(kind))),
        ' · colour: how it ended · #2: a retry'));
  }

  ticks(total) {
    const step = STEPS.find((s) => total / s <= MAX_TICKS) ?? total / MAX_TICKS;
    const out = [];
    for (let t = 0; t <= total + 1e-9; t += step) {
      out.push(h('span', { class: `tl-tick${t / total > 0.9 ? ' end' : ''}`, style: `left:${(t / total) * 100}%` },
        t ? `+${elapsed(t, true)}` : '0'));
    }
    return out;
  }

  row(nodeId, executions, scale, now) {
    const node = this.store.nodes.get(nodeId);
    const title = node ? node.title : nodeId;
    return h('li', { class: 'tl-row', dataset: { nodeId } },
      h('button', { type: 'button', class: 'tl-label link', title: `${title} (${nodeId})`,
        onclick: () => this.store.selectNode(nodeId) }, title),
      h('div', { class: 'tl-track' }, executions.map((execution) => this.bar(execution, scale, now))));
  }

  bar(execution, scale, now) {
    const parts = spans(execution, now);
    const from = scale(execution.created_at);
    const to = scale(parts[parts.length - 1][2]);
    const width = Math.max(to - from, 0.0001);
    const words = parts.map(([kind, a, b]) => `${statusLabel(kind)} ${elapsed(b - a, true)}`).join(', ');
    return h('span', {
      class: `tl-exec status-${execution.status}`, style: `left:${from}%;width:${width}%`,
      title: `attempt ${execution.attempt} · ${statusLabel(execution.status)} · ${words}`,
      dataset: { executionId: execution.id, attempt: String(execution.attempt), status: execution.status },
    }, parts.map(([kind, a, b]) => h('span', {
      class: `tl-seg tl-${kind}`, dataset: { span: kind },
      style: `left:${((scale(a) - from) / width) * 100}%;width:${((scale(b) - scale(a)) / width) * 100}%`,
    })), execution.attempt > 1 ? h('span', { class: 'tl-attempt' }, `#${execution.attempt}`) : null);
  }
}

customElements.define('orc-run-timeline', RunTimeline);
