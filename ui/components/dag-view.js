// <orc-dag-view>: the open project's DAG with its toolbar: add a node, connect two, remove a
// dependency, launch everything / from a node / the failed ones again, cancel the run. The toolbar
// stays one row (what does not fit goes into "More"); the canvas has zoom buttons, a minimap for a
// graph larger than the view, a legend and, in the header, a box that finds a node and centres it.
// "Runs" (beside the title) puts the runs view (<orc-runs-view>) under the canvas in place of the node list.

import { actionButton, h, render } from '../dom.js';
import { durationOf } from '../clock.js';
import { AppElement } from '../element.js';
import { ACTIVE, FAILED, statusLabel } from '../format.js';
import { statusIcon } from '../status-icons.js';
import { EXECUTION_STATUS } from '../statuses.js';
import './dag-canvas.js';
import './dag-minimap.js';
import { requestLaunch } from './launch-dialog.js';
import './node-list.js';
import { OverflowToolbar } from './overflow-toolbar.js';
import './runs-view.js';
import './grid-view.js';
import './triggers-view.js';

const WIDE_STAGE = 1000; // px: from this canvas width on the legend starts open
const VIEWS_MIN_TITLE = 128; // px: a title cut shorter than this gives Grid and Triggers' room to it

class DagView extends AppElement {
  attach() {
    if (!this.canvas) this.build();
    this.canvas.app = this.app;
    this.list.app = this.app;
    this.runs.app = this.app;
    this.grid.app = this.app;
    this.triggers.app = this.app;
    this.minimap.follow(this.canvas);
    for (const topic of ['project', 'projects', 'nodes', 'executions', 'runs', 'selection', 'live', 'connection']) {
      this.listen(topic, () => this.schedule());
    }
    this.update();
  }

  build() {
    this.heading = h('div', { class: 'dag-title' });
    new ResizeObserver(() => this.fitViews()).observe(this.heading);
    this.finder = this.findBox();
    this.head = h('div', { class: 'dag-head' }, this.heading, this.finder);
    this.toolbar = new OverflowToolbar('DAG actions');
    this.hint = h('p', { class: 'hint', hidden: true });
    this.canvas = document.createElement('orc-dag-canvas');
    this.empty = h('div', { class: 'dag-empty' });
    this.list = document.createElement('orc-node-list');
    this.minimap = document.createElement('orc-dag-minimap');
    this.runs = document.createElement('orc-runs-view');
    this.runs.hidden = true;
    this.grid = document.createElement('orc-grid-view');
    this.grid.hidden = true;
    this.triggers = document.createElement('orc-triggers-view');
    const legend = h('details', { class: 'legend' }, h('summary', {}, 'Legend'),
      h('div', { class: 'legend-items' }, ['none', ...Object.values(EXECUTION_STATUS)].map((s) => h('span',
        { class: 'legend-item' }, h('span', { class: `swatch status-${s}` }),
        h('span', { class: `legend-icon status-text status-${s}`, 'aria-hidden': 'true' }, statusIcon(s)),
        s === 'none' ? 'not run yet' : statusLabel(s)))));
    const zoom = h('div', { class: 'zoom-controls', role: 'group', 'aria-label': 'Zoom' },
      h('button', { type: 'button', 'data-action': 'zoom-out', 'aria-label': 'Zoom out', title: 'Zoom out (-)',
        onclick: () => this.canvas.zoomOut() }, '−'),
      h('button', { type: 'button', 'data-action': 'zoom-in', 'aria-label': 'Zoom in', title: 'Zoom in (+)',
        onclick: () => this.canvas.zoomIn() }, '+'),
      h('button', { type: 'button', 'data-action': 'fit', title: 'Fit the whole graph (f)',
        onclick: () => this.canvas.fit() }, 'Fit'));
    // The hint floats over the canvas: a layout shift would move the nodes under the pointer.
    this.stage = h('div', { class: 'dag-stage' }, this.canvas, this.empty, legend, this.hint,
      h('div', { class: 'canvas-corner' }, this.minimap, zoom));
    render(this, this.head, this.toolbar.el, this.stage, this.list, this.runs, this.grid);
    document.body.append(this.triggers); // its dialog is the page's, not the DAG view's
    this.addEventListener('connect-mode', (event) => this.connectHint(event.detail));
    this.addEventListener('open-triggers', (event) => this.triggers.open(event.detail));
    document.addEventListener('open-run', (event) => {
      this.showGrid(false);
      this.showRuns(true);
      this.actions.viewRun(event.detail).catch(() => {});
    });
    requestAnimationFrame(() => { legend.open = this.stage.clientWidth >= WIDE_STAGE; });
  }

  /** "Find node": a search box with the nodes' titles as suggestions; Enter centres the first match. */
  findBox() {
    const options = h('datalist', { id: 'dag-node-options' });
    const input = h('input', { type: 'search', name: 'find-node', list: 'dag-node-options', autocomplete: 'off',
      placeholder: 'Find node… ( / )', 'aria-label': 'Find node by title or id' });
    const form = h('form', { class: 'find', role: 'search', 'aria-label': 'Find node' }, input, options);
    const find = () => {
      const id = this.match(input.value);
      input.setAttribute('aria-invalid', String(Boolean(input.value.trim()) && !id));
      if (id) this.canvas.reveal(id);
      return id;
    };
    form.addEventListener('submit', (event) => { event.preventDefault(); find(); });
    // Picking a suggestion fills the box with a whole title: go there at once.
    input.addEventListener('input', () => {
      if ([...options.options].some((o) => o.value === input.value)) find();
      else input.removeAttribute('aria-invalid');
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') { input.value = ''; input.removeAttribute('aria-invalid'); input.blur(); }
    });
    this.findOptions = options;
    this.findInput = input;
    return form;
  }

  /** The node a search text names: its id or title, exactly, else the first that contains it. */
  match(text) {
    const wanted = text.trim().toLowerCase();
    if (!wanted) return null;
    const nodes = [...this.store.nodes.values()];
    const exact = nodes.find((n) => n.id.toLowerCase() === wanted || n.title.toLowerCase() === wanted);
    const partial = nodes.find((n) => n.id.toLowerCase().includes(wanted) || n.title.toLowerCase().includes(wanted));
    return (exact || partial)?.id ?? null;
  }

  update() {
    const store = this.store;
    const project = store.project;
    this.hidden = false;
    this.finder.hidden = !store.projectId || store.nodes.size === 0;
    if (!store.projectId) {
      render(this.heading, h('h2', {}, 'No project open'));
      this.toolbar.set([]);
      this.empty.hidden = false;
      render(this.empty, h('p', {}, 'Pick a project on the left, or create one.'));
      this.dataset.state = 'none';
      return;
    }
    const live = store.live.state;
    render(this.heading,
      h('h2', {}, project ? project.name : store.projectId),
      h('span', { class: `live live-${live}`, title: store.live.message || '' },
        live === 'live' ? '● live' : live === 'reconnecting' ? '○ reconnecting…' : '○ connecting…'),
      this.runSummary(),
      this.runsToggle());
    this.dataset.state = store.loaded ? 'loaded' : 'loading';
    this.empty.hidden = store.nodes.size > 0 || !store.loaded;
    render(this.empty, h('p', {}, 'No nodes yet. Add the first one with "+ Node".'));
    render(this.findOptions, [...store.nodes.values()].map((n) => h('option', { value: n.title }, n.id)));
    this.renderToolbar();
  }

  runSummary() {
    const running = this.store.runningRuns();
    if (running.length > 1) {
      return h('span', { class: 'run-summary', dataset: { runId: running[0] }, title: running.join(', ') },
        `${running.length} runs in progress`);
    }
    const run = this.store.currentRun();
    if (!run) return null;
    const executions = [...this.store.latest.values()].filter((e) => e.run_id === run.id);
    const done = executions.filter((e) => !ACTIVE.has(e.status)).length;
    return h('span', { class: 'run-summary', dataset: { runId: run.id } },
      `Run ${run.id} ${statusLabel(run.status)} · ${done}/${executions.length} done`,
      run.started_at ? [' · ', durationOf(run)] : null);
  }

  renderToolbar() {
    const store = this.store;
    const actions = this.actions;
    const online = store.connection.state === 'online';
    const selected = store.selectedNode;
    const latest = selected ? store.latest.get(selected) : null;
    const failedAny = [...store.latest.values()].some((e) => FAILED.has(e.status));
    const run = store.currentRun();
    const nothing = store.nodes.size === 0;
    const ignore = () => {};
    const sep = () => h('span', { class: 'sep', 'aria-hidden': 'true', dataset: { priority: 0 } });
    this.toolbar.set([
      h('button', { type: 'button', 'data-action': 'add-node', disabled: !online, dataset: { priority: 3 },
        title: 'Add a node (n)', onclick: () => store.emit('edit-node', { create: true }) }, '+ Node'),
      h('button', { type: 'button', 'data-action': 'connect', disabled: !online || store.nodes.size < 2,
        'aria-pressed': this.canvas.connecting ? 'true' : 'false', dataset: { priority: 2 },
        onclick: () => this.canvas.setConnectMode(!this.canvas.connecting) }, 'Connect'),
      store.selectedEdge ? actionButton('Remove dependency',
        () => actions.disconnect(store.selectedEdge.source, store.selectedEdge.target).catch(ignore),
        { 'data-action': 'disconnect', class: 'danger', disabled: !online, dataset: { priority: 3 } }) : null,
      sep(),
      actionButton('▶ Run all', () => requestLaunch(this.app).catch(ignore),
        { class: 'primary', 'data-action': 'run-all', disabled: !online || nothing, dataset: { priority: 6 },
          title: 'Run every node (Shift+R)' }),
      actionButton('▾', () => requestLaunch(this.app, selected ? [selected] : null, { ask: true }).catch(ignore),
        { class: 'primary run-options', 'data-action': 'run-options', disabled: !online || nothing,
          dataset: { priority: 6 }, 'aria-label': 'Run with options…',
          title: 'Run with options (a run budget): the selected node and downstream, or the whole DAG' }),
      actionButton(latest && FAILED.has(latest.status) ? '↻ Re-run from here' : '▶ Run from here',
        () => requestLaunch(this.app, [selected]).catch(ignore),
        { 'data-action': 'run-from', disabled: !online || !selected, dataset: { priority: 4 },
          title: 'Run the selected node and everything downstream of it (Shift+F)' }),
      actionButton('↻ Re-run failed', () => requestLaunch(this.app, actions.failedRoots()).catch(ignore),
        { 'data-action': 'rerun-failed', disabled: !online || !failedAny, dataset: { priority: 1 } }),
      run ? actionButton('■ Cancel run', () => actions.cancelRun(run.id).catch(ignore),
        { class: 'danger', 'data-action': 'cancel-run', disabled: !online, dataset: { priority: 5 },
          title: 'Cancel the current run (Shift+X)' }) : null,
    ]);
    this.fitViews();
  }

  /**
   * Grid and Triggers sit in the header row while it has room for them beside a readable title;
   * otherwise they go into the toolbar's "More" menu (the header never wraps to a second row).
   */
  fitViews() {
    if (!this.store.projectId) return;
    for (const old of this.heading.querySelectorAll('[data-action=grid]')) old.remove(); // a refit's leftovers
    const title = this.heading.querySelector('h2');
    const cramped = () => this.heading.scrollWidth > this.heading.clientWidth + 1
      || Boolean(title && title.scrollWidth > title.clientWidth + 1 && title.clientWidth < VIEWS_MIN_TITLE);
    const spare = [];
    for (const view of [this.gridToggle(), this.triggers.opener]) {
      if (!spare.length) {
        this.heading.append(view);
        if (!cramped()) continue;
        view.remove();
      }
      spare.push(view);
    }
    this.toolbar.setSpare(spare);
  }


  runsToggle() {
    return h('button', { type: 'button', class: 'small runs-toggle', 'data-action': 'runs',
      'aria-pressed': String(!this.runs.hidden),
      title: 'Every run of this project: pick one to see it on the canvas, with its timeline',
      onclick: () => this.showRuns(this.runs.hidden) }, this.runs.hidden ? 'Runs' : 'Runs ✕');
  }

  gridToggle() {
    return h('button', { type: 'button', class: 'small grid-toggle', 'data-action': 'grid',
      'aria-pressed': String(!this.grid.hidden),
      title: 'Nodes × runs: which node did what in each of the last runs',
      onclick: () => this.showGrid(this.grid.hidden) }, this.grid.hidden ? 'Grid' : 'Grid ✕');
  }

  /** The grid takes the canvas's place (and the list's); closing it brings the canvas back. */
  showGrid(on) {
    this.grid.show(on);
    this.stage.hidden = on;
    this.list.hidden = on || !this.runs.hidden;
    if (on) this.runs.hidden = true;
    this.update();
    if (!on) requestAnimationFrame(() => { this.canvas.cy.resize(); this.canvas.fit(); });
  }

  /** The runs view replaces the node list; closing it shows the latest executions again. */
  showRuns(on) {
    if (on && !this.grid.hidden) this.showGrid(false);
    this.runs.hidden = !on;
    this.list.hidden = on;
    if (!on && this.store.viewedRun) this.actions.viewRun(null);
    this.update();
    requestAnimationFrame(() => { // the stage changed height: draw the graph to fit it
      this.canvas.cy.resize();
      this.canvas.fit();
    });
  }

  connectHint({ on, from }) {
    this.hint.hidden = !on;
    this.hint.textContent = !on ? '' : from
      ? `Now click the node that should depend on "${from}" (click the background to stop).`
      : 'Click the upstream node first, then the node that depends on it.';
    this.schedule();
  }
}

customElements.define('orc-dag-view', DagView);
