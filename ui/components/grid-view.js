// <orc-grid-view>: the project's history in one look (Airflow's grid): nodes as rows in DAG order, the
// last runs as columns (newest on the right), each cell the status glyph and colour of what the node
// did in that run — "×N" when it took N executions (retries, repairs, candidates). A cell opens that
// execution in the inspector; a column head opens the run in the runs view. Paged ("Older" / "Newer")
// from GET /projects/{id}/grid; the newest page follows the project's stream (runs and executions).

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { statusLabel, time } from '../format.js';
import { statusIcon } from '../status-icons.js';

export const GRID_RUNS = 50; // columns per page
const RELOAD_DELAY_MS = 250; // live events come in bursts: read the grid again once per burst

class GridView extends AppElement {
  attach() {
    if (!this.body) {
      this.head = h('div', { class: 'grid-head' });
      this.body = h('div', { class: 'grid-wrap', tabindex: '0', role: 'region', 'aria-label': 'Runs grid' });
      render(this, this.head, this.body);
      this.cursors = []; // the `before` of each page shown so far (null: the newest page)
      this.grid = null;
    }
    this.listen('project', () => { this.cursors = []; this.grid = null; if (!this.hidden) this.load(); });
    this.listen('runs', () => this.liveChange());
    this.listen('executions', () => this.liveChange());
  }

  detach() {
    clearTimeout(this.timer);
  }

  /** Show (and read) the grid, or hide it. */
  show(on) {
    this.hidden = !on;
    if (on) this.load();
  }

  liveChange() {
    if (this.hidden || this.cursors.length) return; // an older page does not change
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), RELOAD_DELAY_MS);
  }

  async load() {
    const projectId = this.store.projectId;
    if (!projectId) return;
    const before = this.cursors.at(-1) ?? null;
    const query = new URLSearchParams({ runs: String(GRID_RUNS) });
    if (before) query.set('before', before);
    this.dataset.state = 'loading';
    try {
      const grid = await this.app.client.get(`/projects/${encodeURIComponent(projectId)}/grid?${query}`);
      if (projectId !== this.store.projectId || before !== (this.cursors.at(-1) ?? null)) return;
      this.grid = grid;
      this.draw();
      this.dataset.state = 'drawn';
    } catch (error) {
      this.dataset.state = 'error';
      render(this.body, h('p', { class: 'form-error' }, `Could not read the grid: ${error.message}`));
    }
  }

  page(step) {
    if (step < 0) this.cursors.push(this.grid.next_before);
    else this.cursors.pop();
    this.load();
  }

  draw() {
    const { nodes, runs, next_before: older } = this.grid;
    const columns = [...runs].reverse(); // oldest left, newest right
    render(this.head,
      h('h3', {}, `Grid: ${nodes.length} node${nodes.length === 1 ? '' : 's'} × ${columns.length} run${columns.length === 1 ? '' : 's'}`),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'small', 'data-action': 'grid-older', disabled: !older,
        onclick: () => this.page(-1) }, '◀ Older'),
      h('button', { type: 'button', class: 'small', 'data-action': 'grid-newer', disabled: !this.cursors.length,
        onclick: () => this.page(1) }, 'Newer ▶'));
    if (!columns.length || !nodes.length) {
      render(this.body, h('p', { class: 'muted empty' }, nodes.length ? 'No run yet.' : 'No nodes yet.'));
      return;
    }
    const titles = new Map(nodes.map((n) => [n.id, n.title]));
    const headRow = h('tr', {}, h('th', { scope: 'col', class: 'grid-corner' }, 'Node'), columns.map((run) => h('th',
      { scope: 'col', class: 'grid-run' }, h('button', { type: 'button', class: `grid-run-button status-text status-${run.status}`,
        dataset: { runId: run.id }, title: `Run ${run.id} · ${statusLabel(run.status)} · ${time(run.started_at || run.created_at)}`
          + `${run.trigger?.kind ? ` · ${run.trigger.kind}` : ''}`,
        'aria-label': `Run ${run.id}, ${statusLabel(run.status)}: open it`, onclick: () => this.openRun(run.id) },
      statusIcon(run.status)))));
    const rows = nodes.map((node) => h('tr', { dataset: { nodeId: node.id } },
      h('th', { scope: 'row', class: 'grid-node', title: `${node.title} (${node.id})` }, node.title),
      columns.map((run) => this.cell(run, node.id, titles))));
    render(this.body, h('table', { class: 'grid-table' }, h('thead', {}, headRow), h('tbody', {}, rows)));
    this.body.scrollLeft = this.body.scrollWidth; // the newest runs (on the right) in view
  }

  cell(run, nodeId, titles) {
    const cell = run.cells[nodeId];
    if (!cell) return h('td', { class: 'grid-cell empty-cell' });
    const label = `${titles.get(nodeId)} in run ${run.id}: ${statusLabel(cell.status)}`
      + `${cell.executions > 1 ? `, ${cell.executions} executions` : ''}`;
    return h('td', { class: 'grid-cell' }, h('button', { type: 'button',
      class: `grid-cell-button status-${cell.status}`, title: label, 'aria-label': label,
      dataset: { executionId: cell.execution_id, status: cell.status },
      onclick: () => this.openExecution(nodeId, cell.execution_id) },
    h('span', { 'aria-hidden': 'true' }, statusIcon(cell.status)),
    cell.executions > 1 ? h('sup', { 'aria-hidden': 'true' }, `×${cell.executions}`) : null));
  }

  openExecution(nodeId, executionId) {
    this.store.selectNode(nodeId);
    document.querySelector('orc-execution-panel')?.open(executionId);
  }

  openRun(runId) {
    this.dispatchEvent(new CustomEvent('open-run', { bubbles: true, detail: runId }));
  }
}

customElements.define('orc-grid-view', GridView);
