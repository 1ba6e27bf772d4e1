// <orc-templates-view>: the agent templates, opened from the top bar. Each template with its
// availability (the CLI's path and version, or why the hub cannot run it), what it runs and how;
// re-check availability; add a user template (the command one argument per line, output format,
// env, resume command, long prompts on stdin) and delete one. The add form is built once, so a
// refused add (the hub's message shown next to it) keeps everything typed.

import { actionButton, confirmButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { time } from '../format.js';

const OUTPUTS = [
  ['text', 'text — plain lines; the last is the result'],
  ['claude-stream-json', 'claude-stream-json — Claude Code\'s stream'],
  ['codex-json', 'codex-json — Codex CLI\'s events'],
  ['gemini-stream-json', 'gemini-stream-json — Gemini CLI\'s stream'],
];

/** Non-empty lines of a textarea: one argv element each. */
function lines(text) {
  return text.split('\n').map((line) => line.replace(/\r$/, '')).filter((line) => line !== '');
}

/** KEY=VALUE lines -> {KEY: VALUE}; a line without '=' is refused here, naming it. */
function environment(text) {
  const env = {};
  for (const line of lines(text)) {
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`Environment: "${line}" is not NAME=value`);
    env[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return env;
}

function availabilityOf(template, checking) {
  const report = template.availability;
  if (checking || report === undefined) return { state: 'checking', label: 'checking…', detail: null };
  if (!report) return { state: 'unknown', label: 'not checked yet', detail: 'Re-check to look for its CLI.' };
  if (!report.available) return { state: 'missing', label: 'not available', detail: report.error || '' };
  return { state: 'available', label: 'available', detail: [report.path, report.version].filter(Boolean).join(' · ') };
}

function stdinText(template) {
  const stdin = template.stdin_prompt;
  if (!stdin) return 'must fit in one argument';
  if (stdin.argument === null) return 'on stdin, {prompt} left out';
  return `on stdin, {prompt} replaced by "${stdin.argument}"`;
}

class TemplatesView extends AppElement {
  attach() {
    if (!this.dialog) {
      this.checking = new Set();
      this.opener = h('button', { type: 'button', class: 'topbar-button', 'data-action': 'templates',
        'aria-haspopup': 'dialog', onclick: () => this.open() }, 'Templates');
      this.list = h('ul', { class: 'template-list', 'aria-label': 'Agent templates' });
      this.status = h('p', { class: 'muted templates-status', role: 'status' });
      this.form = this.buildForm();
      this.dialog = h('dialog', { class: 'templates-dialog', 'aria-labelledby': 'templates-title' },
        h('div', { class: 'templates-head' },
          h('h2', { id: 'templates-title' }, 'Agent templates'),
          h('span', { class: 'muted' }, 'The CLIs nodes can run, and whether this hub finds them.'),
          h('span', { class: 'spacer' }),
          actionButton('↻ Re-check availability', () => this.recheck(), { 'data-action': 'recheck' }),
          h('button', { type: 'button', 'data-action': 'close-templates', onclick: () => this.dialog.close() }, 'Close')),
        h('div', { class: 'templates-body' },
          h('section', { class: 'templates-main', 'aria-label': 'Templates' }, this.status, this.list),
          this.form));
      render(this, this.opener, this.dialog);
    }
    this.listen('templates', () => this.update());
    this.update();
  }

  open() {
    if (!this.dialog.open) this.dialog.showModal();
    this.update();
  }

  async recheck() {
    this.status.textContent = 'Looking for every CLI…';
    try {
      await this.actions.recheckTemplates();
      this.status.textContent = `Checked at ${time(Date.now() / 1000)}.`;
    } catch (error) {
      this.status.textContent = `Re-check failed: ${error.message}`;
    }
  }

  update() {
    if (!this.dialog.open) return;
    const templates = this.store.templates;
    render(this.list, templates.map((t) => this.item(t)));
    if (!templates.length) render(this.list, h('li', { class: 'muted' }, 'No template loaded (is the hub reachable?).'));
  }

  item(t) {
    const seen = availabilityOf(t, this.checking.has(t.id));
    const error = h('p', { class: 'form-error', role: 'alert' });
    const fact = (label, ...value) => [h('dt', {}, label), h('dd', {}, ...value)];
    const env = Object.keys(t.env || {});
    return h('li', { class: `template avail-${seen.state}`, dataset: { templateId: t.id, availability: seen.state } },
      h('div', { class: 'template-head' },
        h('strong', {}, t.name), h('code', { class: 'muted' }, t.id),
        h('span', { class: 'badge' }, t.builtin ? 'built in' : 'yours'),
        h('span', { class: `badge avail avail-${seen.state}` }, seen.label),
        h('span', { class: 'spacer' }),
        t.builtin ? null : confirmButton('Delete', 'Click again to delete', async () => {
          error.textContent = '';
          try {
            await this.actions.deleteTemplate(t.id);
          } catch (failure) {
            error.textContent = failure.message;
          }
        }, { class: 'danger small', 'data-action': 'delete-template' })),
      seen.detail ? h('p', { class: `avail-detail avail-${seen.state}` }, seen.detail) : null,
      t.availability?.checked_at ? h('p', { class: 'muted checked-at' }, `checked ${time(t.availability.checked_at)}`) : null,
      h('dl', { class: 'template-facts' },
        fact('Command', h('span', { class: 'argv' }, t.command.map((arg) => h('code', {}, arg)))),
        fact('Output', t.output),
        t.default_model ? fact('Default model', t.default_model) : null,
        fact('Follow-ups', t.resume_command ? 'can resume a session' : 'cannot resume'),
        fact('Long prompts', stdinText(t)),
        env.length ? fact('Environment', env.join(', ')) : null),
      error);
  }

  buildForm() {
    const id = h('input', { name: 'id', required: true, placeholder: 'e.g. aider', autocomplete: 'off' });
    const name = h('input', { name: 'name', required: true, placeholder: 'e.g. Aider' });
    const command = h('textarea', { name: 'command', rows: 5, required: true, spellcheck: false,
      placeholder: 'aider\n--message\n{prompt}\n--yes' });
    const output = h('select', { name: 'output' }, OUTPUTS.map(([value, label]) => h('option', { value }, label)));
    const model = h('input', { name: 'default_model', placeholder: 'none: the CLI\'s default' });
    const resume = h('textarea', { name: 'resume_command', rows: 3, spellcheck: false,
      placeholder: 'optional: one argument per line, with {session_id} and {prompt}' });
    const stdin = h('select', { name: 'stdin_prompt' },
      h('option', { value: 'none' }, 'No: a prompt must fit in one argument (100,000 bytes)'),
      h('option', { value: 'replace' }, 'Yes: {prompt} becomes the argument below'),
      h('option', { value: 'omit' }, 'Yes: {prompt} is left out'));
    const stdinArgument = h('input', { name: 'stdin_argument', value: '-', 'aria-label': 'Argument in place of {prompt}' });
    const showStdin = () => { stdinArgument.hidden = stdin.value !== 'replace'; };
    stdin.addEventListener('change', showStdin);
    showStdin();
    const env = h('textarea', { name: 'env', rows: 3, spellcheck: false, placeholder: 'optional: NAME=value per line' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    const note = h('span', { class: 'muted', role: 'status' });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Add template');

    const form = h('form', { class: 'stack template-form', 'aria-label': 'Add a template', oninput: () => { note.textContent = ''; },
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = '';
        submit.disabled = true;
        try {
          const fields = { id: id.value.trim(), name: name.value.trim(), command: lines(command.value),
            output: output.value, env: environment(env.value) };
          if (model.value.trim()) fields.default_model = model.value.trim();
          if (lines(resume.value).length) fields.resume_command = lines(resume.value);
          if (stdin.value !== 'none') fields.stdin_prompt = { argument: stdin.value === 'replace' ? stdinArgument.value : null };
          this.checking.add(fields.id);
          try {
            await this.actions.createTemplate(fields);
          } finally {
            this.checking.delete(fields.id);
            this.update();
          }
          form.reset();
          showStdin();
          note.textContent = `Added "${fields.name}".`;
        } catch (failure) {
          error.textContent = failure.message; // everything typed stays
        } finally {
          submit.disabled = false;
        }
      } },
    h('h3', {}, 'Add a template'),
    h('div', { class: 'grid2' }, h('label', {}, 'Id', id), h('label', {}, 'Name', name)),
    h('label', {}, 'Command, one argument per line', command),
    h('p', { class: 'muted form-hint' }, 'Never run through a shell. {prompt} must be an argument of its own; '
      + '{model}, {workspace} and {session_id} are filled in too (an empty one drops the flag before it).'),
    h('label', {}, 'Output format', output),
    h('label', {}, 'Default model', model),
    h('label', {}, 'Resume command (follow-ups)', resume),
    h('label', {}, 'Long prompts on stdin', stdin, stdinArgument),
    h('label', {}, 'Environment', env),
    error,
    h('div', { class: 'row' }, submit, note));
    return form;
  }
}

customElements.define('orc-templates-view', TemplatesView);
