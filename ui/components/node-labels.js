// Labels that tell nodes apart, and the tip that names a node in full.
//
// distinctTitles: where titles share their first words ("Step 1: check the …", "Step 1: check the …"),
// an abbreviated label would keep exactly the part that is the same; so each title loses the longest
// word-aligned prefix (and suffix) it shares with a neighbour in sorted order ("the parser"), and a title that is
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

/** For each node, how many of its title's first characters it shares with a neighbour in sorted order. */
function sharedStarts(nodes, key) {
  const sorted = [...nodes].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const shared = new Map();
  sorted.forEach((node, i) => {
    shared.set(node.id, Math.max(i > 0 ? sharedLength(key(node), key(sorted[i - 1])) : 0,
      i + 1 < sorted.length ? sharedLength(key(node), key(sorted[i + 1])) : 0));
  });
  return shared;
}

const reversed = (text) => [...text].reverse().join('');

/** Node id -> the distinctive part of its title (the whole title when nothing is shared). Both a shared
 * start ("Pipeline stage: …") and a shared end ("… checks") are left out, at word boundaries. */
export function distinctTitles(nodes) {
  const list = [...nodes];
  const starts = sharedStarts(list, (n) => n.title);
  const ends = sharedStarts(list, (n) => reversed(n.title));
  const result = new Map();
  for (const node of list) {
    const title = node.title;
    const start = starts.get(node.id);
    const end = ends.get(node.id);
    if (start >= title.length || end >= title.length) { // a duplicate, or another's whole start or end: its id
      result.set(node.id, node.id);
      continue;
    }
    // Keep the word the titles start (and stop) to differ in whole.
    const from = start >= MIN_SHARED ? title.lastIndexOf(' ', start - 1) + 1 : 0;
    const stop = end >= MIN_SHARED / 2 ? title.indexOf(' ', title.length - end) : -1;
    const to = stop >= from && stop > 0 ? stop : title.length;
    const middle = title.slice(from, to).trim();
    if (!middle) {
      result.set(node.id, node.id);
      continue;
    }
    result.set(node.id, middle); // no "…" marks: every character of a small label counts (the tip has the title)
  }
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
