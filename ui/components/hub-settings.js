// <orc-hub-settings>: which hub this page talks to (presets: this hub, local, named remotes) and
// its token. Shows the connection state; opens itself when the banner asks for a token.

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { addRemote, hubUrl, presets, removeRemote, saveToken, setHubUrl, tokenFor } from '../settings.js';

const STATE_LABEL = { connecting: 'connecting…', online: 'connected', unreachable: 'unreachable',
  unauthorized: 'not signed in' };

class HubSettings extends AppElement {
  attach() {
    this.open = false;
    this.listen('connection', () => this.renderChip());
    this.listen('hub', () => this.renderChip());
    this.listen('open-settings', () => this.toggle(true));
    this.chip = h('button', { type: 'button', class: 'hub-chip', 'aria-haspopup': 'dialog',
      onclick: () => this.toggle(!this.open) });
    this.panel = h('div', { class: 'hub-panel', role: 'dialog', 'aria-label': 'Hub connection', hidden: true });
    render(this, this.chip, this.panel);
    this.renderChip();
  }

  renderChip() {
    const { state } = this.store.connection;
    this.chip.dataset.state = state;
    render(this.chip, h('span', { class: 'dot' }), `${this.store.hubUrl} · ${STATE_LABEL[state] || state}`);
  }

  toggle(open) {
    this.open = open;
    this.panel.hidden = !open;
    if (open) this.renderPanel();
  }

  renderPanel() {
    const current = hubUrl();
    const list = presets();
    if (!list.some((p) => p.url === current)) list.unshift({ name: 'Current', url: current, kind: 'current' });
    const select = h('select', { name: 'hub', 'aria-label': 'Hub' },
      list.map((p) => h('option', { value: p.url, selected: p.url === current }, `${p.name} — ${p.url}`)),
      h('option', { value: '' }, 'Add a remote hub…'));
    const remoteName = h('input', { name: 'remote-name', placeholder: 'name, e.g. build VM' });
    const remoteUrl = h('input', { name: 'remote-url', placeholder: 'http://localhost:8001' });
    const remoteFields = h('div', { class: 'remote-fields', hidden: true },
      h('label', {}, 'Name', remoteName), h('label', {}, 'URL', remoteUrl));
    const token = h('input', { name: 'token', type: 'password', autocomplete: 'off',
      placeholder: 'paste the token printed by: python orchestra.py token' });
    const tokenNote = h('small', { class: 'muted' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    const removeButton = h('button', { type: 'button', class: 'link', hidden: true }, 'Forget this remote');

    const sync = () => {
      const url = select.value;
      remoteFields.hidden = url !== '';
      const preset = list.find((p) => p.url === url);
      removeButton.hidden = !preset || preset.kind !== 'remote';
      tokenNote.textContent = url && tokenFor(url) ? 'A token is saved for this hub; leave empty to keep it.' : '';
    };
    select.addEventListener('change', sync);
    removeButton.addEventListener('click', () => {
      removeRemote(select.value);
      this.renderPanel();
    });

    const form = h('form', { class: 'stack' },
      h('label', {}, 'Hub', select), remoteFields,
      h('label', {}, 'Token', token), tokenNote, error,
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary' }, 'Connect'),
        h('button', { type: 'button', onclick: () => this.toggle(false) }, 'Close'),
        removeButton));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      try {
        const url = select.value || addRemote(remoteName.value, remoteUrl.value);
        if (token.value.trim()) saveToken(url, token.value.trim());
        setHubUrl(url);
      } catch (e) {
        error.textContent = e.message;
        return;
      }
      this.toggle(false);
      this.app.connect();
    });
    const sandbox = this.store.sandbox && h('p', { class: 'muted', 'data-role': 'sandbox' },
      this.store.sandbox === 'bwrap' ? 'Agents run in a sandbox (bwrap).' : `Agents run without a sandbox (${this.store.sandbox}).`);
    render(this.panel, h('h2', {}, 'Hub connection'), sandbox || null, form);
    sync();
    (this.store.connection.state === 'unauthorized' ? token : select).focus();
  }
}

customElements.define('orc-hub-settings', HubSettings);
