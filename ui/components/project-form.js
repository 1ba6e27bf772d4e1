// <orc-project-form>: create a project, or edit / delete one (set .project first). Fires 'done'.

import { confirmButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';

class ProjectForm extends AppElement {
  attach() {
    if (this.firstChild) return; // moved by a re-render of the list: keep what was typed
    const p = this.project;
    const name = h('input', { name: 'name', required: true, maxlength: 200, value: p?.name ?? '' });
    const description = h('textarea', { name: 'description', rows: 2 }, p?.description ?? '');
    const workspace = h('input', { name: 'workspace', value: p?.workspace ?? '',
      placeholder: 'default: a new folder under the hub\'s workspaces' });
    const parallel = h('input', { name: 'max_parallel', type: 'number', min: 1, max: 1024,
      value: p?.max_parallel ?? '', placeholder: 'hub default' });
    const error = h('p', { class: 'form-error', role: 'alert' });

    const submit = async (event) => {
      event.preventDefault();
      error.textContent = '';
      const fields = { name: name.value.trim(), description: description.value };
      if (workspace.value.trim() && workspace.value.trim() !== p?.workspace) fields.workspace = workspace.value.trim();
      if (parallel.value !== '') fields.max_parallel = Number.parseInt(parallel.value, 10);
      else if (p?.max_parallel) fields.max_parallel = null;
      const save = form.querySelector('[type=submit]');
      save.disabled = true;
      try {
        if (p) await this.actions.updateProject(p.id, fields);
        else await this.actions.createProject(fields);
        this.dispatchEvent(new Event('done'));
      } catch (e) {
        error.textContent = e.message;
      } finally {
        save.disabled = false;
      }
    };
    const form = h('form', { class: 'stack card', onsubmit: submit },
      h('label', {}, 'Name', name),
      h('label', {}, 'Description', description),
      h('label', {}, 'Workspace', workspace),
      h('label', {}, 'Parallel executions', parallel),
      error,
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary' }, p ? 'Save' : 'Create project'),
        h('button', { type: 'button', onclick: () => this.dispatchEvent(new Event('done')) }, 'Cancel'),
        p ? confirmButton('Delete project', 'Click again to delete', async () => {
          try {
            await this.actions.deleteProject(p.id);
            this.dispatchEvent(new Event('done'));
          } catch (e) {
            error.textContent = e.message;
          }
        }, { class: 'danger', 'data-action': 'delete-project' }) : null));
    render(this, form);
    name.focus();
  }
}

customElements.define('orc-project-form', ProjectForm);
