// One toolbar row that never wraps: what does not fit moves, lowest priority first, into a "More"
// menu (a disclosure button and a list of the same buttons, so their data-action and state stay).
// Items carry data-priority (higher stays longer; separators are 0 and go first).

import { h } from '../dom.js';

let menus = 0;

export class OverflowToolbar {
  constructor(label) {
    const id = `toolbar-more-${++menus}`;
    this.row = h('div', { class: 'toolbar-row' });
    this.menu = h('div', { class: 'overflow-menu', id, hidden: true });
    this.more = h('button', { type: 'button', class: 'more', 'data-action': 'more', 'aria-expanded': 'false',
      'aria-controls': id, title: 'More actions', onclick: () => this.toggle() }, '⋯ More');
    this.moreWrap = h('div', { class: 'more-wrap', hidden: true }, this.more, this.menu);
    this.el = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': label }, this.row, this.moreWrap);
    this.items = [];
    this.spare = []; // always in the menu (another row's overflow)
    this.menu.addEventListener('click', (event) => {
      if (event.target.closest('button')) this.toggle(false);
    });
    document.addEventListener('pointerdown', (event) => {
      if (!this.moreWrap.contains(event.target)) this.toggle(false);
    });
    this.el.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !this.menu.hidden) {
        this.toggle(false);
        this.more.focus();
        event.stopPropagation();
      }
    });
    new ResizeObserver(() => this.fit()).observe(this.el);
  }

  /** Show `items` (elements; null and false are left out), then fit them into one row. */
  set(items) {
    this.items = items.filter(Boolean);
    this.fit();
  }

  /** Put `items` (another row's overflow) in this toolbar's "More" menu, after its own. */
  setSpare(items) {
    this.spare = items;
    this.fit();
  }

  fit() {
    const hidden = new Set();
    const place = () => {
      this.row.replaceChildren(...this.items.filter((item) => !hidden.has(item)));
      this.menu.replaceChildren(...this.items.filter((item) => hidden.has(item) && !item.classList.contains('sep')),
        ...this.spare);
      this.moreWrap.hidden = hidden.size === 0 && this.spare.length === 0;
    };
    place();
    const byPriority = this.items.map((item, index) => ({ item, index }))
      .sort((a, b) => (Number(a.item.dataset.priority) || 0) - (Number(b.item.dataset.priority) || 0)
        || b.index - a.index);
    for (const { item } of byPriority) {
      if (this.row.scrollWidth <= this.row.clientWidth) break;
      hidden.add(item);
      place();
    }
    if (!hidden.size && !this.spare.length) this.toggle(false);
  }

  toggle(open = this.menu.hidden) {
    this.menu.hidden = !open;
    this.more.setAttribute('aria-expanded', String(open));
  }
}
