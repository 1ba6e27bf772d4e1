// <orc-node-list>: the DAG's nodes as a list under the canvas: a keyboard and screen-reader way to
// see each node's status and select it (the canvas itself is a picture). Up and down arrows move the
// selection; a redraw keeps the keyboard focus on the same node's row.

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { durationOf } from '../clock.js';
import { statusLabel } from '../format.js';
import { statusIcon } from '../status-icons.js';
import { NODE_KIND } from '../statuses.js';

class NodeList extends AppElement {
  attach() {
    this.listen('nodes', () => this.schedule());
    this.listen('executions', () => this.schedule());
    this.listen('run-view', () => this.schedule());
    this.listen('selection', () => this.schedule());
    this.listen('project', () => this.schedule());
    if (!this.keys) {
      this.keys = (event) => this.arrow(event);
      this.addEventListener('keydown', this.keys);
    }
    this.update();
  }

  /** ArrowDown / ArrowUp on a row: select and focus the next / previous node. */
  arrow(event) {
    const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
    const row = event.target.closest?.('.node-row');
    if (!step || !row) return;
    event.preventDefault();
    const next = step > 0 ? row.nextElementSibling : row.previousElementSibling;
    if (!next) return;
    next.querySelector('button').focus({ preventScroll: true }); // the list scrolls itself: reveal()
    this.store.selectNode(next.dataset.nodeId);
  }

  update() {
    const { nodes, selectedNode } = this.store;
    const latest = this.store.shownExecutions(); // the latest, or the runs view's run
    if (!nodes.size) {
      render(this);
      return;
    }
    const rows = [...nodes.values()].map((node) => {
      const execution = latest.get(node.id);
      const status = execution?.status || 'none';
      return h('li', { class: `node-row${node.id === selectedNode ? ' selected' : ''}`,
        dataset: { nodeId: node.id, status } },
      h('button', { type: 'button', onclick: () => this.store.selectNode(node.id),
        'aria-current': node.id === selectedNode ? 'true' : null },
      h('span', { class: `swatch status-${status}` }),
      h('span', { class: 'node-title', title: node.title }, node.title,
        node.kind === NODE_KIND.AGENT ? null : [' ', h('span', { class: `badge kind-${node.kind}` }, node.kind)],
        node.planned_by ? [' ', h('span', { class: 'badge kind-planned', title: `a task of plan ${node.planned_by}` },
          `from ${node.planned_by}`)] : null),
      h('code', { class: 'muted', title: node.id }, node.id),
      h('span', { class: `status-text status-${status}` },
        h('span', { class: 'status-icon', 'aria-hidden': 'true' }, statusIcon(status)),
        status === 'none' ? 'not run yet' : statusLabel(status)),
      h('span', { class: 'muted node-duration' }, durationOf(execution)),
      node.depends_on.length ? h('span', { class: 'muted deps' }, `after ${node.depends_on.join(', ')}`) : null));
    });
    const focused = this.contains(document.activeElement) ? document.activeElement.closest('.node-row') : null;
    render(this, h('h3', { class: 'sr-only' }, 'Nodes'), h('ul', { class: 'node-rows' }, rows));
    if (focused) {
      this.querySelector(`.node-row[data-node-id="${CSS.escape(focused.dataset.nodeId)}"] button`)
        ?.focus({ preventScroll: true });
    }
    if (selectedNode !== this.shown) this.reveal(this.querySelector('.node-row.selected'));
    this.shown = selectedNode;
  }

  /** Scroll the list (only the list: scrollIntoView would also move the panes) to show `row`. */
  reveal(row) {
    if (!row) return;
    const top = row.offsetTop; // the list is positioned: its rows' offsetParent
    if (top < this.scrollTop) this.scrollTop = top;
    else if (top + row.offsetHeight > this.scrollTop + this.clientHeight) {
      this.scrollTop = top + row.offsetHeight - this.clientHeight;
    }
  }
}

customElements.define('orc-node-list', NodeList);
