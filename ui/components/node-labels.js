// Labels that tell nodes apart, and the tip that names a node in full.
//
// distinctTitles: where titles share their first words ("Step 1: check the …", "Step 1: check the …"),
// an abbreviated label would keep exactly the part that is the same; so each title loses the longest
// word-aligned prefix it shares with a neighbour in sorted order ("…the parser"), and a title that is
// another's whole (or a duplicate) becomes its node id. The canvas draws these in its compact labels.
//
// nodeTip: on hover (and when the find box centres a node) a small box over the canvas shows the
// node's full title, id, status, duration and agent.

import { h, render } from '../dom.js';
import { durationOf } from '../clock.js';
import { statusLabel } from '../format.js';

const MIN_SHARED = 8; // a shared prefix shorter than this is kept: it still reads as part of the name

function sharedLength(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  return i;
}

/** Node id -> the distinctive part of its title (the whole title when nothing is shared). */
export function distinctTitles(nodes) {
  const sorted = [...nodes].sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : 0));
  const result = new Map();
  sorted.forEach((node, i) => {
    const title = node.title;
    const shared = Math.max(i > 0 ? sharedLength(title, sorted[i - 1].title) : 0,
      i + 1 < sorted.length ? sharedLength(title, sorted[i + 1].title) : 0);
    if (shared >= title.length) { // the same title as another node, or the start of one: the id tells them apart
      result.set(node.id, node.id);
      return;
    }
    if (shared < MIN_SHARED) {
      result.set(node.id, title);
      return;
    }
    const cut = title.lastIndexOf(' ', shared - 1) + 1; // keep the word the titles start to differ in whole
    const rest = title.slice(cut > 0 ? cut : shared).trim();
    result.set(node.id, rest ? `…${rest}` : node.id);
  });
  return result;
}

/** The hover tip of the canvas: one element, moved and filled for the node under the pointer. */
export class NodeTip {
  constructor(parent) {
    this.el = h('div', { class: 'node-tip', role: 'tooltip', hidden: true, id: 'dag-node-tip' });
    parent.append(this.el);
  }

  show(node, execution, at) {
    if (!node) return this.hide();
    const status = execution?.status;
    render(this.el,
      h('strong', {}, node.title),
      h('div', { class: 'muted' }, h('code', {}, node.id), node.agent ? ` · ${node.agent}` : '', node.kind && node.kind !== 'agent' ? ` · ${node.kind}` : ''),
      h('div', {}, status ? statusLabel(status) : 'not run yet', execution && durationOf(execution) ? [' · ', durationOf(execution)] : ''));
    this.el.dataset.nodeId = node.id;
    this.el.style.left = `${Math.round(at.x)}px`;
    this.el.style.top = `${Math.round(at.y)}px`;
    this.el.hidden = false;
    return this.el;
  }

  hide() {
    this.el.hidden = true;
    delete this.el.dataset.nodeId;
  }
}
