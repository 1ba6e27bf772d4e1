// <orc-dag-view>: the open project's DAG with its toolbar: add a node, connect two, remove a
// dependency, launch everything / from a node / the failed ones again, cancel the run; "Runs" (beside
// the title) puts the runs view (<orc-runs-view>) under the canvas in place of the node list.

import { actionButton, h, render } from '../dom.js';
import { durationOf } from '../clock.js';
import { AppElement } from '../element.js';
import { ACTIVE, FAILED, statusLabel } from '../format.js';
import { EXECUTION_STATUS } from '../statuses.js';
import './dag-canvas.js';
import { requestLaunch } from './launch-dialog.js';
import './node-list.js';
import './runs-view.js';

class DagView extends AppElement {
  attach() {
    if (!this.canvas) {
      this.head = h('div', { class: 'dag-head' });
      this.toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'DAG actions' });
      this.hint = h('p', { class: 'hint', hidden: true });
      this.canvas = document.createElement('orc-dag-canvas');
      this.empty = h('div', { class: 'dag-empty' });
      this.list = document.createElement('orc-node-list');
      this.runs = document.createElement('orc-runs-view');
      this.runs.hidden = true;
      const legend = h('div', { class: 'legend', 'aria-label': 'Colour legend' },
        Object.values(EXECUTION_STATUS).map(
          (s) => h('span', { class: 'legend-item' }, h('span', { class: `swatch status-${s}` }), statusLabel(s))));
      // The hint floats over the canvas: a layout shift would move the nodes under the pointer.
      this.stage = h('div', { class: 'dag-stage' }, this.canvas, this.empty, legend, this.hint);
      render(this, this.head, this.toolbar, this.stage, this.list, this.runs);
      this.addEventListener('connect-mode', (event) => this.connectHint(event.detail));
    }
    this.canvas.app = this.app;
    this.list.app = this.app;
    this.runs.app = this.app;
    for (const topic of ['project', 'projects', 'nodes', 'executions', 'runs', 'selection', 'live', 'connection']) {
      this.listen(topic, () => this.schedule());
    }
    this.update();
  }

  update() {
    const store = this.store;
    const project = store.project;
    this.hidden = false;
    if (!store.projectId) {
      render(this.head, h('h2', {}, 'No project open'));
      render(this.toolbar);
      this.empty.hidden = false;
      render(this.empty, h('p', {}, 'Pick a project on the left, or create one.'));
      this.dataset.state = 'none';
      return;
    }
    const live = store.live.state;
    render(this.head,
      h('h2', {}, project ? project.name : store.projectId),
      h('span', { class: `live live-${live}`, title: store.live.message || '' },
        live === 'live' ? '● live' : live === 'reconnecting' ? '○ reconnecting…' : '○ connecting…'),
      this.runSummary(),
      this.runsToggle());
    this.dataset.state = store.loaded ? 'loaded' : 'loading';
    this.empty.hidden = store.nodes.size > 0 || !store.loaded;
    render(this.empty, h('p', {}, 'No nodes yet. Add the first one with "+ Node".'));
    this.renderToolbar();
  }

  runSummary() {
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
    render(this.toolbar,
      h('button', { type: 'button', 'data-action': 'add-node', disabled: !online,
        onclick: () => store.emit('edit-node', { create: true }) }, '+ Node'),
      h('button', { type: 'button', 'data-action': 'connect', disabled: !online || store.nodes.size < 2,
        'aria-pressed': this.canvas.connecting ? 'true' : 'false',
        onclick: () => this.canvas.setConnectMode(!this.canvas.connecting) }, 'Connect'),
      store.selectedEdge ? actionButton('Remove dependency',
        () => actions.disconnect(store.selectedEdge.source, store.selectedEdge.target).catch(ignore),
        { 'data-action': 'disconnect', class: 'danger', disabled: !online }) : null,
      h('span', { class: 'sep' }),
      actionButton('▶ Run all', () => requestLaunch(this.app).catch(ignore),
        { class: 'primary', 'data-action': 'run-all', disabled: !online || nothing }),
      actionButton('▾', () => requestLaunch(this.app, selected ? [selected] : null, { ask: true }).catch(ignore),
        { class: 'primary run-options', 'data-action': 'run-options', disabled: !online || nothing,
          'aria-label': 'Run with options…',
          title: 'Run with options (a run budget): the selected node and downstream, or the whole DAG' }),
      actionButton(latest && FAILED.has(latest.status) ? '↻ Re-run from here' : '▶ Run from here',
        () => requestLaunch(this.app, [selected]).catch(ignore),
        { 'data-action': 'run-from', disabled: !online || !selected,
          title: 'Run the selected node and everything downstream of it' }),
      actionButton('↻ Re-run failed', () => requestLaunch(this.app, actions.failedRoots()).catch(ignore),
        { 'data-action': 'rerun-failed', disabled: !online || !failedAny }),
      run ? actionButton('■ Cancel run', () => actions.cancelRun(run.id).catch(ignore),
        { class: 'danger', 'data-action': 'cancel-run', disabled: !online }) : null,
      h('span', { class: 'sep' }),
      h('button', { type: 'button', 'data-action': 'fit', onclick: () => this.canvas.fit() }, 'Fit'));
  }

  runsToggle() {
    return h('button', { type: 'button', class: 'small runs-toggle', 'data-action': 'runs',
      'aria-pressed': String(!this.runs.hidden),
      title: 'Every run of this project: pick one to see it on the canvas, with its timeline',
      onclick: () => this.showRuns(this.runs.hidden) }, this.runs.hidden ? 'Runs' : 'Runs ✕');
  }

  /** The runs view replaces the node list; closing it shows the latest executions again. */
  showRuns(on) {
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
