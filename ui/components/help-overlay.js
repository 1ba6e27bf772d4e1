// <orc-help-overlay>: the keyboard shortcuts in a modal dialog (Escape or the button closes it).

import { h, render } from '../dom.js';
import { SHORTCUTS } from '../shortcuts.js';

class HelpOverlay extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
    const close = h('button', { type: 'button', class: 'small', onclick: () => this.dialog.close() }, 'Close');
    this.dialog = h('dialog', { class: 'help', 'aria-labelledby': 'help-title' },
      h('div', { class: 'pane-head' }, h('h2', { id: 'help-title' }, 'Keyboard shortcuts'), close),
      h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Does'))),
        h('tbody', {}, SHORTCUTS.map((s) => h('tr', {},
          h('td', {}, (s.shown ? [s.shown] : s.keys).flatMap((k, i) => [i ? ' or ' : null, h('kbd', {}, k === 'Escape' ? 'Esc' : k)])),
          h('td', {}, s.label))))),
      h('p', { class: 'muted' }, 'In the node list, ', h('kbd', {}, '↑'), ' and ', h('kbd', {}, '↓'),
        ' select the previous and next node. Shortcuts do nothing while you type in a field, except Esc.'));
    this.dialog.addEventListener('click', (event) => {
      if (event.target === this.dialog) this.dialog.close(); // a click on the backdrop
    });
    render(this, this.dialog);
  }

  open() {
    if (!this.dialog.open) this.dialog.showModal();
  }
}

customElements.define('orc-help-overlay', HelpOverlay);
