// <orc-runs-view>: the open project's runs, newest first — status, trigger, start, duration, tokens,
// cost — and the project's totals. Picking a run colours the canvas by that run's executions (not only
// the latest of each node) and draws its timeline (<orc-run-timeline>); the run can be cancelled or
// launched again from here, or landed (merged, pushed, a pull request) when its project has a land node.
// Runs started anywhere arrive live, on the project's stream.

import { actionButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { durationOf } from '../clock.js';
import { cost, landedText, requestLabel, statusLabel, time } from '../format.js';
import { NODE_KIND, RUN_SCOPE, UNFINISHED_RUN_STATUSES } from '../statuses.js';
import { requestLaunch } from './launch-dialog.js';
import './run-timeline.js';

const ACTIVE_RUN = new Set(UNFINISHED_RUN_STATUSES);

/** What a run launched (its scope), and who launched it when not a request (a webhook, a schedule). */
export function triggerLabel(run) {
  const nodes = (run.node_ids || []).join(', ');
  const scope = run.scope === RUN_SCOPE.FOLLOW_UP ? `follow-up of ${nodes}`
    : run.scope === RUN_SCOPE.NODES ? `from ${nodes}` : 'all nodes';
  return run.trigger?.kind ? `${scope} · ${run.trigger.kind}` : scope;
}

/** The trigger column: a webhook's or schedule's run links back to it (the triggers dialog). */
function triggerCell(run) {
  const kind = run.trigger?.kind;
  if (kind !== 'webhook' && kind !== 'schedule') return triggerLabel(run);
  return h('button', { type: 'button', class: 'link small trigger-link', 'data-action': 'open-trigger',
    title: `Open the ${kind} that started this run`,
    onclick: (event) => {
      event.stopPropagation();
      event.target.dispatchEvent(new CustomEvent('open-triggers', { bubbles: true, detail: run.trigger.schedule_id ?? null }));
    } }, triggerLabel(run));
}

function tokenCount(totals) {
  if (!totals) return '–';
  const count = totals.input_tokens + totals.output_tokens;
  return count ? count.toLocaleString() : '–';
}

/** Tokens and cost summed over executions (the viewed run's, live while it runs). */
function sumTotals(executions) {
  // cost_usd stays null while no execution reported a cost (Codex, Gemini): shown as none, not $0.
  const totals = { input_tokens: 0, output_tokens: 0, cost_usd: null, executions: 0 };
  for (const e of executions) {
    totals.input_tokens += e.input_tokens ?? 0;
    totals.output_tokens += e.output_tokens ?? 0;
    if (e.cost_usd != null) totals.cost_usd = (totals.cost_usd ?? 0) + e.cost_usd;
    totals.executions += 1;
  }
  return totals;
}

class RunsView extends AppElement {
  attach() {
    if (!this.list) {
      this.head = h('div', { class: 'runs-head' });
      this.list = h('div', { class: 'runs-table-wrap' });
      this.detailHead = h('div', { class: 'run-detail-head' });
      this.timeline = document.createElement('orc-run-timeline');
      this.detail = h('section', { class: 'run-detail', 'aria-label': 'Selected run', hidden: true },
        this.detailHead, this.timeline);
      render(this, this.head, this.list, this.detail);
      this.projectTotals = null;
    }
    this.timeline.app = this.app;
    this.listen('project', () => { this.projectTotals = null; this.loadTotals(); this.schedule(); });
    this.listen('runs', () => { this.loadTotalsSoon(); this.schedule(); });
    this.listen('run-view', () => this.schedule());
    this.listen('executions', () => { if (this.store.viewedRun) this.schedule(); });
    this.listen('connection', () => this.schedule());
    this.loadTotals();
    this.update();
  }

  detach() {
    clearTimeout(this.totalsTimer);
  }

  /** The project's totals (tokens, cost over every run) change when a run ends: read them again then. */
  loadTotalsSoon() {
    clearTimeout(this.totalsTimer);
    this.totalsTimer = setTimeout(() => this.loadTotals(), 300);
  }

  async loadTotals() {
    const projectId = this.store.projectId;
    if (!projectId || this.store.connection.state !== 'online') return;
    try {
      const project = await this.app.client.project(projectId);
      if (projectId !== this.store.projectId) return;
      this.projectTotals = project.totals;
      this.schedule();
    } catch {
      // the connection banner says why; the totals come back with the next run
    }
  }

  update() {
    const store = this.store;
    const runs = [...store.runs.values()].sort((a, b) => b.created_at - a.created_at);
    const totals = this.projectTotals;
    render(this.head,
      h('h3', {}, `Runs (${runs.length}${store.runsBefore ? '+' : ''})`),
      h('span', { class: 'muted project-totals', 'data-role': 'project-totals' },
        totals ? `Project total: ${tokenCount(totals)} tokens · ${cost(totals.cost_usd)}` : ''));
    if (!runs.length) {
      render(this.list, h('p', { class: 'muted empty' }, store.projectId ? 'No run yet. Launch one with "▶ Run all".' : ''));
    } else {
      render(this.list, h('table', { class: 'runs-table' },
        h('thead', {}, h('tr', {}, ['Status', 'Run', 'Trigger', 'Started', 'Duration', 'Tokens', 'Cost']
          .map((label) => h('th', { scope: 'col', class: `col-${label.toLowerCase()}` }, label)))),
        h('tbody', {}, runs.map((run) => this.row(run)))),
      store.runsBefore ? actionButton('Load older runs', () => this.actions.loadRuns(store.runsBefore)
        .catch((error) => this.actions.notify('error', `Loading older runs failed: ${error.message}`)),
      { class: 'link small', 'data-action': 'older-runs' }) : null);
    }
    this.renderDetail();
  }

  row(run) {
    const viewed = run.id === this.store.viewedRun;
    const totals = viewed ? sumTotals(this.store.viewedExecutions.values()) : run.totals;
    const pick = () => this.actions.viewRun(viewed ? null : run.id).catch(() => {});
    return h('tr', { class: `run-row${viewed ? ' selected' : ''}`, tabindex: '0', 'aria-selected': String(viewed),
      dataset: { runId: run.id, status: run.status }, onclick: pick,
      onkeydown: (event) => { if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); pick(); } } },
    h('td', {}, h('span', { class: `badge status-${run.status}` }, statusLabel(run.status))),
    h('td', { class: 'col-run', title: run.id }, h('code', {}, run.id)),
    h('td', { class: 'trigger' }, triggerCell(run)),
    h('td', { class: 'col-started', title: time(run.started_at || run.created_at, true) },
      time(run.started_at || run.created_at)),
    h('td', {}, durationOf(run) ?? '–'), // ticks (clock.js) while the run runs
    h('td', { class: 'num' }, tokenCount(totals)),
    h('td', { class: 'num' }, totals ? cost(totals.cost_usd) : '–'));
  }

  renderDetail() {
    const store = this.store;
    const run = store.viewedRun ? store.runs.get(store.viewedRun) : null;
    this.detail.hidden = !run;
    this.timeline.run = run;
    if (!run) {
      render(this.detailHead);
      return;
    }
    const online = store.connection.state === 'online';
    const ignore = () => {};
    const followUp = run.scope === RUN_SCOPE.FOLLOW_UP;
    const landable = !ACTIVE_RUN.has(run.status) && [...store.nodes.values()].some((n) => n.kind === NODE_KIND.LAND);
    render(this.detailHead,
        h('h4', {}, 'Run ', h('code', {}, run.id), ' ', h('span', { class: `badge status-${run.status}` }, statusLabel(run.status))),
        h('span', { class: 'muted' }, `${triggerLabel(run)} · the canvas shows this run`),
        run.landed ? h('span', { class: 'run-landed', 'data-landed': run.landed.mode }, 'Landed: ', landedText(run.landed),
          /^https?:\/\//.test(run.landed.url || '') ? [' ', h('a', { href: run.landed.url, target: '_blank', rel: 'noopener noreferrer' },
            requestLabel(run.landed, true))] : null) : null,
        h('span', { class: 'row run-actions' },
          ACTIVE_RUN.has(run.status) ? actionButton('■ Cancel run', () => this.actions.cancelRun(run.id).catch(ignore),
            { class: 'danger small', 'data-action': 'cancel-viewed-run', disabled: !online }) : null,
          // What the run launched again (the whole DAG, or the same nodes), asking first as every launch does.
          actionButton('↻ Re-run', () => requestLaunch(this.app, run.node_ids).catch(ignore),
            { class: 'small', 'data-action': 'rerun-viewed-run', disabled: !online || followUp,
              title: followUp ? 'A follow-up continues one session: send a new follow-up from the execution instead'
                : 'Launch what this run launched again' }),
          landable ? actionButton('⇡ Land', () => this.actions.landRun(run.id).catch(ignore),
            { class: 'small', 'data-action': 'land-viewed-run', disabled: !online,
              title: run.landed ? 'Land again: changes nothing unless the work or the base moved'
                : 'Land this run\'s work as the project\'s land node says (merge, push, pull request)' }) : null,
          h('button', { type: 'button', class: 'small', 'data-action': 'show-latest',
            onclick: () => this.actions.viewRun(null) }, 'Show latest')));
  }
}

customElements.define('orc-runs-view', RunsView);
