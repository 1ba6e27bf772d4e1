// <orc-project-overview>: what the inspector shows when no node is selected — the project's last runs
// (a click opens one in the runs view), its totals, and what waits for a person. That last part is a
// slot filled from GET /attention (the attention items of this project) once the hub answers that
// route; a hub without it leaves the slot hidden (data-attention="unavailable").

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { durationOf } from '../clock.js';
import { cost, statusLabel, time } from '../format.js';
import { triggerLabel } from './runs-view.js';

const LAST_RUNS = 8;

class ProjectOverview extends AppElement {
  attach() {
    if (!this.runsBox) {
      this.heading = h('h3', {});
      this.totalsBox = h('p', { class: 'muted', 'data-role': 'overview-totals' });
      this.attentionBox = h('section', { class: 'overview-attention', 'aria-label': 'Waiting for you', hidden: true });
      this.runsBox = h('section', { class: 'overview-runs', 'aria-label': 'Last runs' });
      render(this, this.heading, this.totalsBox, this.attentionBox, this.runsBox,
        h('p', { class: 'muted' }, 'Select a node to see its executions and settings.'));
    }
    this.listen('project', () => { this.totals = null; this.refresh(); });
    this.listen('runs', () => { this.schedule(); this.refreshSoon(); });
    this.refresh();
  }

  detach() {
    clearTimeout(this.timer);
  }

  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 500);
  }

  async refresh() {
    this.update();
    const projectId = this.store.projectId;
    if (!projectId || !this.app.client) return;
    try {
      const project = await this.app.client.project(projectId);
      if (projectId === this.store.projectId) { this.totals = project.totals; this.update(); }
    } catch { /* the connection banner says why */ }
    await this.loadAttention(projectId);
  }

  /** The attention slot: this project's items from GET /attention, when the hub has that route. */
  async loadAttention(projectId) {
    try {
      const answer = await this.app.client.get(`/attention?project_id=${encodeURIComponent(projectId)}`);
      if (projectId !== this.store.projectId) return;
      const items = (answer.items || []).filter((item) => item.project_id === projectId);
      this.dataset.attention = String(items.length);
      this.attentionBox.hidden = false;
      render(this.attentionBox, h('h4', {}, `Waiting for you (${items.length})`), items.length
        ? h('ul', {}, items.map((item) => h('li', {}, `${item.kind.replace('_', ' ')}: `,
          h('code', {}, item.node_id || item.run_id || ''))))
        : h('p', { class: 'muted' }, 'Nothing waits for you.'));
    } catch {
      this.dataset.attention = 'unavailable';
      this.attentionBox.hidden = true;
    }
  }

  update() {
    const store = this.store;
    const project = store.project;
    render(this.heading, project ? project.name : '');
    const totals = this.totals;
    this.totalsBox.textContent = totals
      ? `${totals.executions} executions · ${(totals.input_tokens + totals.output_tokens).toLocaleString()} tokens · ${cost(totals.cost_usd)}`
      : '';
    const runs = [...store.runs.values()].sort((a, b) => b.created_at - a.created_at).slice(0, LAST_RUNS);
    if (!runs.length) {
      render(this.runsBox, h('h4', {}, 'Last runs'), h('p', { class: 'muted' }, 'No run yet.'));
      return;
    }
    render(this.runsBox, h('h4', {}, 'Last runs'), h('table', { class: 'overview-table fixed-table' },
      h('thead', {}, h('tr', {}, ['Status', 'Run', 'Started', 'Duration'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, runs.map((run) => h('tr', { dataset: { runId: run.id } },
        h('td', {}, h('span', { class: `badge status-${run.status}` }, statusLabel(run.status))),
        h('td', { class: 'ellipsis', title: `${run.id} · ${triggerLabel(run)}` }, h('button', { type: 'button', class: 'link mono',
          onclick: () => this.dispatchEvent(new CustomEvent('open-run', { bubbles: true, detail: run.id })) }, run.id)),
        h('td', { class: 'ellipsis', title: time(run.started_at || run.created_at, true) }, time(run.started_at || run.created_at)),
        h('td', { class: 'num ellipsis' }, durationOf(run) ?? '–'))))));
  }
}

customElements.define('orc-project-overview', ProjectOverview);
