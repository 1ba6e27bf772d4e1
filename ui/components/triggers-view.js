// <orc-triggers-view>: what starts the open project's runs besides a person — its webhook and its cron
// schedules — in a dialog opened from the project's header ("Triggers"). The webhook: its URL, set or
// rotate its secret (shown once, right after saving: the hub never shows it again), the nodes and
// inputs a delivery launches, delete. Schedules: cron text with the next five fire times in the hub's
// time zone, enable/disable, edit, delete, add. A refusal shows the hub's message beside the form and
// keeps what was typed. Runs a trigger started link back here (runs-view.js: "open-triggers").

import { actionButton, confirmButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';

const enc = encodeURIComponent;

/** A new random secret (URL-safe, 32 characters), for the webhook form. */
export function newSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_');
}

/** "a, b" -> ['a', 'b'], '' -> null (the whole DAG). */
function nodeList(text) {
  const ids = text.split(/[\s,]+/).filter(Boolean);
  return ids.length ? ids : null;
}

/** KEY=VALUE lines -> {KEY: VALUE}. */
function inputsOf(text) {
  const inputs = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`Inputs: "${line}" is not NAME=value`);
    inputs[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return inputs;
}

/** The fields a webhook's and a schedule's forms share: what a firing launches. */
const launchFields = () => [
  h('label', {}, 'Nodes it launches (ids, comma-separated; empty: the whole DAG)', h('input', { name: 'node_ids' })),
  h('label', {}, 'Inputs (NAME=value, one a line)', h('textarea', { name: 'inputs', rows: 2 })),
];

/** What those fields say: node_ids (null: the whole DAG) and inputs; throws on an input line that is not NAME=value. */
const launchOf = (form) => ({ node_ids: nodeList(form.elements.node_ids.value),
  inputs: inputsOf(form.elements.inputs.value) });

const inputsText = (inputs) => Object.entries(inputs || {}).map(([k, v]) => `${k}=${v}`).join('\n');

class TriggersView extends AppElement {
  constructor() {
    super();
    this.opener = h('button', { type: 'button', class: 'small', 'data-action': 'triggers', 'aria-haspopup': 'dialog',
      title: 'Webhook and schedules: what starts this project\'s runs', onclick: () => this.open() }, 'Triggers');
  }

  attach() {
    if (!this.dialog) this.build();
    this.listen('project', () => { if (this.dialog.open) this.dialog.close(); });
  }

  build() {
    this.hookBox = h('section', { class: 'trigger-section', 'aria-labelledby': 'webhook-title' });
    this.scheduleBox = h('section', { class: 'trigger-section', 'aria-labelledby': 'schedules-title' });
    this.hookForm = this.buildHookForm();
    this.scheduleForm = this.buildScheduleForm();
    this.dialog = h('dialog', { class: 'triggers-dialog', 'aria-labelledby': 'triggers-title' },
      h('div', { class: 'templates-head' },
        h('h2', { id: 'triggers-title' }, 'Triggers'),
        h('span', { class: 'muted', 'data-role': 'triggers-project' }),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', 'data-action': 'close-triggers', onclick: () => this.dialog.close() }, 'Close')),
      h('div', { class: 'triggers-body' },
        h('div', { class: 'stack' }, h('h3', { id: 'webhook-title' }, 'Webhook'), this.hookBox, this.hookForm),
        h('div', { class: 'stack' }, h('h3', { id: 'schedules-title' }, 'Schedules'), this.scheduleBox, this.scheduleForm)));
    render(this, this.dialog);
  }

  get client() { return this.app.client; }
  get projectId() { return this.store.projectId; }

  async open(highlight = null) {
    if (!this.dialog.open) this.dialog.showModal();
    this.highlight = highlight;
    this.dialog.querySelector('[data-role=triggers-project]').textContent = this.store.project?.name || this.projectId;
    this.resetHookForm();
    this.resetScheduleForm();
    await Promise.all([this.loadHook(), this.loadSchedules()]);
  }

  // -- the webhook ---------------------------------------------------------------------------------

  async loadHook() {
    try {
      this.hook = await this.client.get(`/projects/${enc(this.projectId)}/webhook`);
    } catch (error) {
      this.hook = null;
      if (error.status !== 404) render(this.hookBox, h('p', { class: 'form-error' }, error.message));
    }
    this.drawHook();
  }

  drawHook(secret = null) {
    const hook = this.hook;
    this.hookForm.querySelector('[type=submit]').textContent = hook ? 'Save (sets this secret)' : 'Add webhook';
    if (!hook) {
      render(this.hookBox, h('p', { class: 'muted', 'data-role': 'no-webhook' }, 'No webhook: deliveries are refused.'));
      return;
    }
    const url = new URL(hook.url, this.store.hubUrl || location.origin).href;
    render(this.hookBox, h('dl', { class: 'facts', 'data-role': 'webhook' },
      h('dt', {}, 'URL'), h('dd', {}, h('code', { 'data-role': 'webhook-url' }, url)),
      h('dt', {}, 'Secret'), h('dd', {}, secret
        ? [h('code', { class: 'secret-once', 'data-role': 'webhook-secret' }, secret),
          h('span', { class: 'muted' }, ' shown once: copy it into the git host now')]
        : h('code', {}, hook.secret_hint)),
      h('dt', {}, 'Launches'), h('dd', { 'data-role': 'webhook-nodes' }, hook.node_ids ? hook.node_ids.join(', ') : 'the whole DAG'),
      h('dt', {}, 'Inputs'), h('dd', {}, inputsText(hook.inputs) || '–')),
    h('div', { class: 'row' },
      actionButton('↻ Rotate secret', () => this.saveHook({ secret: newSecret(), inputs: hook.inputs,
        ...(hook.node_ids ? { node_ids: hook.node_ids } : {}) }), { class: 'small', 'data-action': 'rotate-secret' }),
      h('button', { type: 'button', class: 'small', 'data-action': 'edit-webhook', onclick: () => this.editHook() }, 'Edit'),
      confirmButton('Delete', 'Delete: sure?', () => this.deleteHook(), { class: 'small danger', 'data-action': 'delete-webhook' })));
  }

  buildHookForm() {
    const form = h('form', { class: 'stack trigger-form', 'data-role': 'webhook-form', 'aria-label': 'Webhook settings' },
      h('label', {}, 'Secret (at least 16 characters)', h('input', { name: 'secret', autocomplete: 'off', required: true })),
      launchFields(),
      h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Add webhook')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = form.querySelector('.form-error');
      let body;
      try {
        const { node_ids: nodes, inputs } = launchOf(form);
        body = { secret: form.elements.secret.value, inputs, ...(nodes ? { node_ids: nodes } : {}) };
      } catch (problem) {
        error.textContent = problem.message;
        return;
      }
      await this.saveHook(body, form);
    });
    return form;
  }

  resetHookForm() {
    const form = this.hookForm;
    form.reset();
    form.elements.secret.value = newSecret();
    form.querySelector('.form-error').textContent = '';
  }

  editHook() {
    const form = this.hookForm;
    form.elements.node_ids.value = (this.hook?.node_ids || []).join(', ');
    form.elements.inputs.value = inputsText(this.hook?.inputs);
    form.elements.secret.focus();
  }

  async saveHook(body, form = this.hookForm) {
    const error = form.querySelector('.form-error');
    try {
      this.hook = await this.client.request('PUT', `/projects/${enc(this.projectId)}/webhook`, body);
      error.textContent = '';
      this.resetHookForm();
      this.drawHook(body.secret);
    } catch (problem) {
      error.textContent = problem.message; // what was typed stays
    }
  }

  async deleteHook() {
    try {
      await this.client.delete(`/projects/${enc(this.projectId)}/webhook`);
      this.hook = null;
      this.drawHook();
    } catch (problem) {
      this.hookForm.querySelector('.form-error').textContent = problem.message;
    }
  }

  // -- schedules ------------------------------------------------------------------------------------

  async loadSchedules() {
    try {
      const answer = await this.client.get(`/projects/${enc(this.projectId)}/schedules`);
      this.schedules = answer.schedules;
      this.zone = answer.timezone;
      this.drawSchedules();
    } catch (error) {
      render(this.scheduleBox, h('p', { class: 'form-error' }, error.message));
    }
  }

  drawSchedules() {
    if (!this.schedules.length) {
      render(this.scheduleBox, h('p', { class: 'muted' }, 'No schedule.'));
      return;
    }
    render(this.scheduleBox, h('p', { class: 'muted' }, `Times in the hub's time zone, ${this.zone}.`),
      h('ul', { class: 'schedule-list', 'aria-label': 'Schedules' }, this.schedules.map((s) => this.scheduleItem(s))));
  }

  scheduleItem(schedule) {
    const toggle = h('input', { type: 'checkbox', checked: schedule.enabled, 'data-action': 'enable-schedule' });
    toggle.addEventListener('change', () => this.patchSchedule(schedule.id, { enabled: toggle.checked }));
    return h('li', { class: `schedule${schedule.id === this.highlight ? ' highlight' : ''}`, dataset: { scheduleId: schedule.id } },
      h('div', { class: 'row' },
        h('code', { class: 'cron', 'data-role': 'cron' }, schedule.cron),
        h('span', { class: 'muted' }, schedule.node_ids ? `→ ${schedule.node_ids.join(', ')}` : '→ whole DAG'),
        h('label', { class: 'check' }, toggle, 'enabled'),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'small', 'data-action': 'edit-schedule', onclick: () => this.editSchedule(schedule) }, 'Edit'),
        confirmButton('Delete', 'Delete: sure?', () => this.deleteSchedule(schedule.id),
          { class: 'small danger', 'data-action': 'delete-schedule' })),
      schedule.enabled
        ? h('ol', { class: 'next-times', 'aria-label': `Next fire times of ${schedule.cron}` },
          (schedule.next_times || [schedule.next_at]).map((t) => h('li', {}, h('time', { datetime: t }, t.replace('T', ' ').slice(0, 16)))))
        : h('p', { class: 'muted' }, 'Disabled: it does not fire.'),
      schedule.last_run_id ? h('p', { class: 'muted' }, 'Last run ', h('code', {}, schedule.last_run_id)) : null,
      schedule.last_error ? h('p', { class: 'form-error' }, `Last tick refused: ${schedule.last_error}`) : null);
  }

  buildScheduleForm() {
    const form = h('form', { class: 'stack trigger-form', 'data-role': 'schedule-form', 'aria-label': 'Schedule' },
      h('h4', { 'data-role': 'schedule-form-title' }, 'Add a schedule'),
      h('label', {}, 'Cron (minute hour day month weekday)', h('input', { name: 'cron', required: true, placeholder: '0 3 * * 1-5' })),
      launchFields(),
      h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Add schedule'),
        h('button', { type: 'button', 'data-action': 'cancel-schedule-edit', onclick: () => this.resetScheduleForm() }, 'Clear')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = form.querySelector('.form-error');
      let body;
      try {
        body = { cron: form.elements.cron.value, ...launchOf(form) };
      } catch (problem) {
        error.textContent = problem.message;
        return;
      }
      try {
        if (this.editing) await this.client.patch(`/schedules/${enc(this.editing)}`, body);
        else {
          if (!body.node_ids) delete body.node_ids;
          await this.client.post(`/projects/${enc(this.projectId)}/schedules`, body);
        }
      } catch (problem) {
        error.textContent = problem.message; // what was typed stays
        return;
      }
      this.resetScheduleForm();
      await this.loadSchedules();
    });
    return form;
  }

  resetScheduleForm() {
    this.editing = null;
    this.scheduleForm.reset();
    this.scheduleForm.querySelector('.form-error').textContent = '';
    this.scheduleForm.querySelector('[data-role=schedule-form-title]').textContent = 'Add a schedule';
    this.scheduleForm.querySelector('[type=submit]').textContent = 'Add schedule';
  }

  editSchedule(schedule) {
    const form = this.scheduleForm;
    this.editing = schedule.id;
    form.elements.cron.value = schedule.cron;
    form.elements.node_ids.value = (schedule.node_ids || []).join(', ');
    form.elements.inputs.value = inputsText(schedule.inputs);
    form.querySelector('.form-error').textContent = '';
    form.querySelector('[data-role=schedule-form-title]').textContent = `Edit schedule ${schedule.id}`;
    form.querySelector('[type=submit]').textContent = 'Save schedule';
    form.elements.cron.focus();
  }

  async patchSchedule(id, body) {
    try {
      await this.client.patch(`/schedules/${enc(id)}`, body);
    } catch (problem) {
      this.scheduleForm.querySelector('.form-error').textContent = problem.message;
    }
    await this.loadSchedules();
  }

  async deleteSchedule(id) {
    try {
      await this.client.delete(`/schedules/${enc(id)}`);
      if (this.editing === id) this.resetScheduleForm();
    } catch (problem) {
      this.scheduleForm.querySelector('.form-error').textContent = problem.message;
    }
    await this.loadSchedules();
  }
}

customElements.define('orc-triggers-view', TriggersView);
