// <orc-toast-list>: every action's outcome in words. Errors stay until dismissed; notes fade.

import { h } from '../dom.js';
import { AppElement } from '../element.js';

const INFO_MS = 4000;
const MAX = 6;

class ToastList extends AppElement {
  attach() {
    this.setAttribute('role', 'log');
    this.setAttribute('aria-live', 'polite');
    this.listen('notify', (event) => this.add(event.detail));
  }

  add({ kind, text }) {
    const toast = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
      h('span', {}, text),
      h('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => toast.remove() }, '×'));
    this.append(toast);
    while (this.children.length > MAX) this.firstElementChild.remove();
    if (kind !== 'error') setTimeout(() => toast.remove(), INFO_MS);
  }
}

customElements.define('orc-toast-list', ToastList);
