// <orc-project-list>: the hub's projects with their state at a glance (running / failed / idle and
// the last run); create one, open one, edit or delete it.

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { relativeTime } from '../clock.js';
import { statusLabel } from '../format.js';
import { PROJECT_STATE } from '../statuses.js';
import './project-form.js';

class ProjectList extends AppElement {
  attach() {
    this.editing = null; // null: no form; 'new'; or a project id
    this.listen('projects', () => this.update());
    this.listen('project', () => this.update());
    this.listen('connection', () => this.update());
    this.update();
  }

  update() {
    const store = this.store;
    const items = store.projects.map((project) => this.item(project));
    let body;
    if (store.projects.length) body = h('ul', { class: 'projects' }, items);
    else if (store.projectsLoaded) body = h('p', { class: 'muted empty' }, 'No project yet. Create one to start.');
    else body = h('p', { class: 'muted empty' }, store.connection.state === 'online' ? 'Loading…' : 'Not connected.');
    const newButton = h('button', { type: 'button', class: 'primary small', 'data-action': 'new-project',
      disabled: store.connection.state !== 'online', onclick: () => this.edit('new') }, '+ New');
    render(this,
      h('div', { class: 'pane-head' }, h('h2', {}, 'Projects'), newButton),
      this.editing === 'new' ? this.form(null) : null,
      body);
  }

  item(project) {
    const selected = project.id === this.store.projectId;
    const last = project.last_run;
    const state = project.state || PROJECT_STATE.IDLE;
    const li = h('li', { class: `project${selected ? ' selected' : ''}`, dataset: { projectId: project.id, state } },
      h('button', { type: 'button', class: 'project-open', 'aria-current': selected ? 'true' : null,
        onclick: () => this.actions.openProject(project.id) },
      h('span', { class: 'project-name' }, project.name),
      h('span', { class: `badge state-${state}` }, state),
      h('span', { class: 'project-meta muted' },
        `${project.node_count ?? 0} node${project.node_count === 1 ? '' : 's'} · `,
        last ? [`last run ${statusLabel(last.status)} `, relativeTime(last.created_at)] : 'never run')),
      selected ? h('button', { type: 'button', class: 'link small', 'data-action': 'edit-project',
        onclick: () => this.edit(this.editing === project.id ? null : project.id) },
      this.editing === project.id ? 'Close' : 'Edit') : null);
    if (this.editing === project.id) li.append(this.form(project));
    return li;
  }

  form(project) {
    // The same form element survives re-renders (the list refreshes itself), keeping what was typed.
    const key = project ? project.id : 'new';
    if (this.formEl && this.formKey === key) return this.formEl;
    const form = document.createElement('orc-project-form');
    this.formEl = form;
    this.formKey = key;
    form.project = project;
    form.app = this.app;
    form.addEventListener('done', () => this.edit(null));
    return form;
  }

  edit(which) {
    this.editing = which;
    this.formEl = null;
    this.update();
  }
}

customElements.define('orc-project-list', ProjectList);
