// <orc-node-editor>: create or edit a node: its kind (an agent, a gate that waits for a person's
// approval, a plan whose task list grows the DAG, or a land node: land-fields.js), title, prompt, agent template (marked when the
// hub cannot find its CLI), model, timeout, retries, network in its sandbox, budget, check, candidates and plan limits
// (node-extras.js) and the nodes it depends on; delete it. The hub's refusal (e.g. a cycle, 409) is
// shown as is.

import { confirmButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { NODE_KIND } from '../statuses.js';
import { budgetFields } from './budget-fields.js';
import { landFields } from './land-fields.js';
import { nodeExtras } from './node-extras.js';

/** Why the hub cannot run `template`'s CLI, or null when it can (or has not looked yet). */
function unavailable(template) {
  return template?.availability?.available === false ? template.availability.error || 'not available' : null;
}

class NodeEditor extends AppElement {
  attach() {
    this.nodeId ??= null;
    this.creating ??= false;
    this.dirty = false;
    this.listen('templates', () => this.refreshIfClean());
    this.listen('nodes', () => {
      if (this.nodeId && !this.store.nodes.has(this.nodeId)) this.edit(null, false);
      else this.refreshIfClean();
    });
    this.listen('project', () => this.edit(null, false));
    this.update();
  }

  /** Edit `nodeId`, or a new node when null (create = true unless told otherwise). */
  edit(nodeId, create = nodeId === null) {
    this.nodeId = nodeId;
    this.creating = create;
    this.dirty = false;
    this.note = '';
    if (this.app) this.update();
  }

  refreshIfClean() {
    if (!this.dirty) this.update();
  }

  update() {
    const store = this.store;
    const node = this.nodeId ? store.nodes.get(this.nodeId) : null;
    if (!node && !this.creating) {
      render(this);
      return;
    }
    const markDirty = () => {
      this.dirty = true;
      this.note = '';
    };
    const kind = h('select', { name: 'kind' },
      h('option', { value: NODE_KIND.AGENT, selected: (node?.kind ?? NODE_KIND.AGENT) === NODE_KIND.AGENT },
        'Agent — runs an agent CLI on a prompt'),
      h('option', { value: NODE_KIND.GATE, selected: node?.kind === NODE_KIND.GATE },
        'Gate — waits for a person to approve or reject'),
      h('option', { value: NODE_KIND.PLAN, selected: node?.kind === NODE_KIND.PLAN },
        'Plan — its agent answers a task list that grows the DAG below it'),
      h('option', { value: NODE_KIND.LAND, selected: node?.kind === NODE_KIND.LAND },
        'Land — merges, pushes or opens a pull request with the work above it'));
    const isGate = () => kind.value === NODE_KIND.GATE;
    const isLand = () => kind.value === NODE_KIND.LAND;
    const land = landFields(node);
    const title = h('input', { name: 'title', required: true, maxlength: 200, value: node?.title ?? '' });
    const prompt = h('textarea', { name: 'prompt', rows: 7, required: true }, node?.prompt ?? '');
    const templates = store.templates;
    const agent = h('select', { name: 'agent' }, templates.map((t) => h('option',
      { value: t.id, selected: (node?.agent ?? 'claude-code') === t.id, dataset: unavailable(t) ? { unavailable: 'true' } : undefined },
      `${t.name} (${t.id})${unavailable(t) ? ' — not available' : ''}`)));
    const template = () => templates.find((t) => t.id === agent.value);
    const agentWarning = h('p', { class: 'agent-warning', role: 'status' });
    const model = h('input', { name: 'model', value: node?.model ?? '' });
    const showAgent = () => {
      model.placeholder = template()?.default_model || 'the CLI\'s default';
      const why = unavailable(template());
      agentWarning.hidden = !why;
      agentWarning.textContent = why ? `⚠ The hub cannot run this agent: ${why}. A launch that reaches this node `
        + 'asks first; re-check under Templates once the CLI is installed.' : '';
    };
    // Its network in the sandbox (issue 24): empty leaves it to the template, which the option names.
    const templateNetwork = h('option', { value: '', selected: !node?.network });
    const network = h('select', { name: 'network' }, templateNetwork,
      h('option', { value: 'full', selected: node?.network === 'full' }, 'Full — the network as the hub has it'),
      h('option', { value: 'none', selected: node?.network === 'none' }, 'None — only its own loopback'));
    const showNetwork = () => {
      templateNetwork.textContent = `The template's (${template()?.sandbox?.network ?? 'full'})`;
    };
    agent.addEventListener('change', showAgent);
    agent.addEventListener('change', showNetwork);
    showAgent();
    showNetwork();
    const extras = nodeExtras(node, kind);
    const budget = budgetFields('Budget', node?.budget,
      'Optional. An execution that crosses it is stopped and fails.');
    const timeout = h('input', { name: 'timeout_s', type: 'number', min: 1, step: 'any',
      value: node?.timeout_s ?? '', placeholder: 'none' });
    const retries = h('input', { name: 'retries', type: 'number', min: 0, max: 10, value: node?.retries ?? 0 });
    const others = [...store.nodes.values()].filter((n) => n.id !== this.nodeId);
    const deps = h('fieldset', { class: 'deps' }, h('legend', {}, 'Runs after'),
      others.length ? others.map((other) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'depends_on', value: other.id,
          checked: Boolean(node?.depends_on.includes(other.id)) }),
        `${other.title} `, h('code', { class: 'muted' }, other.id)))
        : h('p', { class: 'muted' }, 'No other node yet.'));
    const error = h('p', { class: 'form-error', role: 'alert' });

    // What only an agent node has; a gate runs no agent and takes no prompt.
    const agentFields = h('div', { class: 'stack agent-fields' },
      h('label', {}, 'Prompt', prompt),
      h('label', {}, 'Agent template', agent),
      agentWarning,
      h('div', { class: 'grid3' },
        h('label', {}, 'Model', model), h('label', {}, 'Timeout (s)', timeout), h('label', {}, 'Retries', retries)),
      h('label', {}, 'Network in its sandbox', network),
      budget.element,
      extras.element);
    const gateNote = h('p', { class: 'muted gate-note' },
      'A gate runs no agent: a run that reaches it waits until someone approves it (what depends on it runs) '
      + 'or rejects it (what depends on it is skipped). The comment given becomes its result.');
    const showKind = () => {
      agentFields.hidden = isGate() || isLand();
      prompt.required = !isGate() && !isLand();
      gateNote.hidden = !isGate();
      land.element.hidden = !isLand();
    };
    kind.addEventListener('change', showKind);
    showKind();

    const submit = async (event) => {
      event.preventDefault();
      error.textContent = '';
      const save = form.querySelector('[type=submit]');
      save.disabled = true;
      try {
        const depends = [...deps.querySelectorAll('input:checked')].map((input) => input.value);
        const fields = isLand() ? { kind: NODE_KIND.LAND, title: title.value.trim(), depends_on: depends, ...land.value() }
          : isGate() ? { kind: NODE_KIND.GATE, title: title.value.trim(), depends_on: depends } : {
          kind: kind.value, title: title.value.trim(), prompt: prompt.value, agent: agent.value,
          model: model.value.trim() || null,
          timeout_s: timeout.value === '' ? null : Number(timeout.value),
          retries: retries.value === '' ? 0 : Number.parseInt(retries.value, 10),
          budget: budget.value(),
          network: network.value || null,
          depends_on: depends,
          ...extras.value(kind.value),
        };
        if (this.creating) {
          for (const key of ['model', 'timeout_s', 'budget', 'network', ...extras.keys]) if (fields[key] === null) delete fields[key];
          this.creating = false;
          try {
            const created = await this.actions.createNode(fields);
            this.nodeId = created.id;
          } catch (e) {
            this.creating = true;
            throw e;
          }
        } else {
          await this.actions.updateNode(this.nodeId, fields);
        }
        this.dirty = false;
        this.note = 'Saved.';
        this.update();
      } catch (e) {
        error.textContent = e.message;
      } finally {
        save.disabled = false;
      }
    };

    const form = h('form', { class: 'stack node-form', onsubmit: submit, oninput: markDirty, onchange: markDirty },
      h('h3', {}, this.creating ? 'New node' : `Node ${node.id}`),
      h('label', {}, 'Kind', kind),
      h('label', {}, 'Title', title),
      gateNote,
      land.element,
      agentFields,
      deps,
      error,
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary' }, this.creating ? 'Create node' : 'Save'),
        this.creating ? h('button', { type: 'button', onclick: () => {
          this.edit(null, false);
          this.store.emit('selection');
        } }, 'Cancel') : null,
        !this.creating ? confirmButton('Delete node', 'Click again to delete', async () => {
          try {
            await this.actions.deleteNode(node.id);
          } catch (e) {
            error.textContent = e.message;
          }
        }, { class: 'danger', 'data-action': 'delete-node' }) : null,
        h('span', { class: 'form-status muted', role: 'status' }, this.note || '')));
    render(this, form);
    if (this.creating) title.focus();
  }
}

customElements.define('orc-node-editor', NodeEditor);
