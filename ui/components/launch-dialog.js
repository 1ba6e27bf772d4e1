// <orc-launch-dialog>: asks before a launch when there is something to say or set. It warns when a
// node that would run uses an agent the hub cannot find, or when a run of the project is still in
// progress (another run would work alongside it: the user goes on or cancels), and takes a budget for
// the whole run. Without either (and when not asked for options) a launch starts at once.
//
// Other parts of the UI add their own fields with registerLaunchSection(factory): factory({app,
// nodeIds, nodes}) returns null (nothing to add) or {element, required, options()}, where `required`
// opens the dialog for every launch and options() is merged into the /launch body (it may throw an
// Error whose message is shown in the dialog).

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { NODE_KIND } from '../statuses.js';
import { budgetFields } from './budget-fields.js';

const sections = [];

export function registerLaunchSection(factory) {
  sections.push(factory);
}

/**
 * Launch `nodeIds` and what is downstream of them (null: the whole DAG), asking first when a node
 * uses an unavailable agent, a section requires it, or `ask` is set. Resolves to the hub's answer
 * ({run_id, executions}), or null when the user cancelled; rejects when a direct launch fails.
 */
export function requestLaunch(app, nodeIds = null, { ask = false } = {}) {
  let dialog = document.querySelector('orc-launch-dialog');
  if (!dialog) {
    dialog = document.createElement('orc-launch-dialog');
    document.body.append(dialog);
  }
  dialog.app = app;
  return dialog.request(nodeIds, ask);
}

/** Nodes of the open project that would run: all of them, or `nodeIds` and their downstream. */
function nodesToRun(store, nodeIds) {
  if (!nodeIds) return [...store.nodes.values()];
  const ids = new Set(nodeIds);
  for (const id of nodeIds) for (const below of store.downstreamOf(id)) ids.add(below);
  return [...ids].map((id) => store.nodes.get(id)).filter(Boolean);
}

/** [{node, template, reason}] for each agent node whose template the hub cannot run. */
export function unavailableAgents(store, nodes) {
  const found = [];
  for (const node of nodes) {
    if (node.kind === NODE_KIND.GATE || !node.agent) continue;
    const template = store.templates.find((t) => t.id === node.agent);
    if (!template) found.push({ node, template: null, reason: `agent template '${node.agent}' is not known to the hub` });
    else if (template.availability?.available === false) {
      found.push({ node, template, reason: template.availability.error || 'not available' });
    }
  }
  return found;
}

class LaunchDialog extends AppElement {
  attach() {
    if (!this.dialog) {
      this.dialog = h('dialog', { class: 'launch-dialog', 'aria-labelledby': 'launch-dialog-title' });
      this.dialog.addEventListener('cancel', () => this.finish(null)); // Escape
      render(this, this.dialog);
    }
  }

  request(nodeIds, ask) {
    this.finish(null); // a dialog still open from before is dropped
    const store = this.store;
    const nodes = nodesToRun(store, nodeIds);
    const missing = unavailableAgents(store, nodes);
    const extra = sections.map((factory) => factory({ app: this.app, nodeIds, nodes })).filter(Boolean);
    const running = store.runningRuns();
    if (!ask && !missing.length && !running.length && !extra.some((section) => section.required)) {
      return this.actions.launch(nodeIds);
    }
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.show(nodeIds, nodes, missing, extra, running);
    });
  }

  finish(result) {
    const resolve = this.resolve;
    this.resolve = null;
    if (this.dialog?.open) this.dialog.close();
    resolve?.(result);
  }

  show(nodeIds, nodes, missing, extra, running = []) {
    const store = this.store;
    const title = nodeIds
      ? `Launch ${nodeIds.map((id) => `"${store.nodes.get(id)?.title ?? id}"`).join(', ')} and what depends on it`
      : 'Launch the whole DAG';
    const names = nodes.map((n) => n.title);
    const budget = budgetFields('Run budget', null,
      'Optional. When the run crosses it, every agent of the run is stopped and the run fails.');
    const error = h('p', { class: 'form-error', role: 'alert' });
    const warning = missing.length ? h('div', { class: 'launch-warning', role: 'alert' },
      h('h4', {}, missing.length === 1 ? '⚠ A node uses an agent that is not available'
        : `⚠ ${missing.length} nodes use agents that are not available`),
      h('ul', {}, missing.map(({ node, template, reason }) => h('li', { dataset: { nodeId: node.id } },
        h('strong', {}, node.title), ' uses ', h('code', {}, template ? template.id : node.agent), ': ', reason))),
      h('p', {}, 'Its execution will fail. Go on anyway, or cancel and fix the template (Templates, at the top).'))
      : null;
    const inProgress = running.length ? h('div', { class: 'launch-warning launch-in-progress', role: 'alert' },
      h('h4', {}, running.length === 1 ? '⟳ A run of this project is in progress'
        : `⟳ ${running.length} runs of this project are in progress`),
      h('p', {}, running.join(', '), ': a new run works alongside, and a node in both runs runs twice. ',
        'Launch another run, or cancel and wait (or stop the run first).'))
      : null;
    const go = h('button', { type: 'submit', class: missing.length ? 'danger' : 'primary', 'data-action': 'launch' },
      missing.length ? 'Launch anyway' : running.length ? 'Launch another run' : 'Launch');
    const form = h('form', { class: 'stack', onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = '';
      go.disabled = true;
      try {
        const options = {};
        const runBudget = budget.value();
        if (runBudget) options.budget = runBudget;
        for (const section of extra) Object.assign(options, section.options());
        this.finish(await this.actions.launch(nodeIds, options));
      } catch (failure) {
        error.textContent = failure.message; // what was typed stays
      } finally {
        go.disabled = false;
      }
    } },
    h('h3', { id: 'launch-dialog-title' }, title),
    h('p', { class: 'muted launch-what' }, `${names.length} node${names.length === 1 ? '' : 's'} will run: `,
      names.slice(0, 8).join(', '), names.length > 8 ? `, and ${names.length - 8} more` : ''),
    inProgress,
    warning,
    budget.element,
    extra.map((section) => section.element),
    error,
    h('div', { class: 'row dialog-buttons' },
      h('button', { type: 'button', 'data-action': 'cancel-launch', onclick: () => this.finish(null) }, 'Cancel'),
      go));
    render(this.dialog, form);
    this.dialog.showModal();
    (missing.length || running.length ? this.dialog.querySelector('[data-action=cancel-launch]')
      : budget.element.querySelector('input')).focus();
  }
}

customElements.define('orc-launch-dialog', LaunchDialog);
