// <orc-dag-canvas>: the project's DAG drawn by Cytoscape, laid out by dagre (left to right; top to bottom in
// a narrow canvas where that draws it larger), with pan and zoom. A node's colour is the status of its
// latest execution (or, while the runs view shows a run, of its execution in that run), with a glyph and
// a border style so that it reads without colour; running nodes pulse. Connect mode: tap the upstream
// node, then the downstream one. A plan's tasks are drawn in a box of their own that a tap on it
// collapses into one node and expands again (dag-groups.js).
//
// Labels never shrink below a readable size: at a normal zoom a node shows its title and status; zoomed
// out, only its glyph and title, drawn at READABLE_PX on screen whatever the zoom (on two lines while
// they fit the node, then on one, abbreviated with an ellipsis); further out, no label at all (the
// minimap and the find box take over).

import cytoscape from '../vendor/cytoscape.esm.min.js';
import dagre from '../vendor/cytoscape-dagre.esm.min.js';
import { h } from '../dom.js';
import { AppElement } from '../element.js';
import { statusLabel } from '../format.js';
import { statusIcon } from '../status-icons.js';
import { NodeTip, distinctTitles } from './node-labels.js';
import {
  graphElements, groupId, groupSummary, isGroup, loadCollapsed, planGroups, planOf, saveCollapsed,
} from './dag-groups.js';
import { EXECUTION_STATUS, NODE_KIND } from '../statuses.js';

cytoscape.use(dagre);

const RUNNING = EXECUTION_STATUS.RUNNING;
const NONE = 'none'; // a node that never ran
const FONT = 13; // a full label's size, in graph units
const READABLE_PX = 11; // no label is drawn smaller than this on screen
const FULL_ZOOM = READABLE_PX / FONT; // from this zoom on, full labels are readable
const WRAPPED_ZOOM = 0.55; // from this zoom on, two lines of READABLE_PX text fit a node's height
const WRAPPED_CHARS = 30; // what two such lines hold at WRAPPED_ZOOM
const COMPACT_ZOOM = 0.22; // below it even a glyph and a few letters do not fit a node: no labels
const ZOOM_STEP = 1.25;

/**
 * The fill and line colour of each status (and of NONE): the --<status>-fill and --<status> of
 * style.css, so that the canvas and the rest of the UI share one table of colours.
 */
function statusColors() {
  const css = getComputedStyle(document.documentElement);
  return Object.fromEntries([NONE, ...Object.values(EXECUTION_STATUS)].map((status) => [status, {
    fill: css.getPropertyValue(`--${status}-fill`).trim(),
    line: css.getPropertyValue(`--${status}`).trim(),
  }]));
}

/** How labels are drawn at a zoom level: full (title and status), compact (glyph and title), none. */
function labelMode(zoom) {
  if (zoom >= FULL_ZOOM) return { mode: 'full', size: FONT };
  if (zoom < COMPACT_ZOOM) return { mode: 'none', size: FONT };
  const size = Math.ceil((READABLE_PX / zoom) * 2) / 2; // half-unit steps: fewer restyles
  return { mode: zoom >= WRAPPED_ZOOM ? 'wrapped' : 'compact', size };
}

const LABEL_STYLE = {
  full: (size) => ({ label: 'data(label)', 'font-size': size, 'text-wrap': 'wrap' }),
  wrapped: (size) => ({ label: 'data(wrapped)', 'font-size': size, 'text-wrap': 'wrap' }),
  compact: (size) => ({ label: 'data(short)', 'font-size': size, 'text-wrap': 'ellipsis' }),
  none: () => ({ label: '' }),
};

const S = EXECUTION_STATUS;
/** Border styles, so that the statuses that need attention differ by more than colour. */
const BORDERS = [
  [[S.SKIPPED], { 'border-style': 'dashed', color: '#6b7280' }],
  [[S.CANCELLED, S.QUEUED], { 'border-style': 'dotted', 'border-width': 3 }],
  [[S.FAILED, S.TIMED_OUT, S.INTERRUPTED], { 'border-style': 'double', 'border-width': 6 }],
];

const styleSheet = (colors, labels) => [
  { selector: 'node', style: {
    shape: 'round-rectangle', width: 180, height: 56, 'text-max-width': 168, 'text-valign': 'center',
    'font-family': 'system-ui, sans-serif', 'min-zoomed-font-size': READABLE_PX - 1,
    color: '#0f172a', 'background-color': colors[NONE].fill, 'border-width': 2, 'border-color': colors[NONE].line,
    'transition-property': 'border-width', 'transition-duration': '0.5s', ...LABEL_STYLE[labels.mode](labels.size) } },
  ...Object.entries(colors).map(([status, { fill, line }]) => ({ selector: `node[status = "${status}"]`,
    style: { 'background-color': fill, 'border-color': line } })),
  ...BORDERS.map(([statuses, style]) => ({ selector: statuses.map((st) => `node[status = "${st}"]`).join(', '), style })),
  // A gate (waits for a person's decision, runs no agent) is a hexagon.
  { selector: `node[kind = "${NODE_KIND.GATE}"]`, style: { shape: 'hexagon' } },
  // A plan node (its agent's task list grows the DAG below it) has cut corners.
  { selector: `node[kind = "${NODE_KIND.PLAN}"]`, style: { shape: 'cut-rectangle' } },
  { selector: `node[kind = "${NODE_KIND.LAND}"]`, style: { shape: 'tag' } },
  // A plan's tasks: a light box around them, its label on top; collapsed, one node with an outline.
  { selector: 'node.group-open', style: { shape: 'round-rectangle', 'background-color': '#f1f5f9',
    'background-opacity': 0.7, 'border-width': 1, 'border-style': 'dashed', 'border-color': '#64748b',
    'text-valign': 'top', 'text-halign': 'center', 'text-margin-y': -4, padding: 16, color: '#334155' } },
  { selector: 'node.group-closed', style: { 'outline-width': 3, 'outline-color': '#64748b', 'outline-offset': 3 } },
  { selector: 'node.pulse', style: { 'border-width': 7 } },
  // A halo behind the selected node, so its fill keeps the status colour.
  { selector: 'node:selected', style: { 'underlay-color': '#2563eb', 'underlay-opacity': 0.22,
    'underlay-padding': 7, 'underlay-shape': 'round-rectangle' } },
  { selector: 'node.source', style: { 'border-style': 'double', 'border-width': 6, 'border-color': '#7c3aed' } },
  { selector: 'edge', style: { width: 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle',
    'line-color': '#94a3b8', 'target-arrow-color': '#94a3b8', 'arrow-scale': 1.2 } },
  { selector: 'edge:selected', style: { 'line-color': '#7c3aed', 'target-arrow-color': '#7c3aed', width: 4 } },
];

const LAYOUT = { name: 'dagre', rankDir: 'LR', nodeSep: 30, rankSep: 70, padding: 30, animate: false, fit: false };
const PADDING = 30;
const NARROW = 600; // px: a canvas narrower than this may draw the DAG top to bottom instead

/**
 * Left to right, unless the canvas is narrow and top to bottom would draw the graph clearly larger:
 * estimated from the number of layers (longest path) and the widest layer, before dagre runs.
 */
function direction(nodes, width, height) {
  if (width >= NARROW || !nodes.size) return 'LR';
  const rank = new Map();
  const visit = (id) => {
    if (rank.has(id)) return rank.get(id);
    rank.set(id, 0); // a guard: the hub refuses cycles
    const ups = nodes.get(id).depends_on.filter((up) => nodes.has(up));
    const r = ups.length ? Math.max(...ups.map(visit)) + 1 : 0;
    rank.set(id, r);
    return r;
  };
  for (const id of nodes.keys()) visit(id);
  const perRank = new Map();
  for (const r of rank.values()) perRank.set(r, (perRank.get(r) || 0) + 1);
  const layers = perRank.size;
  const widest = Math.max(...perRank.values());
  const span = (count, size, gap) => count * size + (count - 1) * gap;
  const zoom = (w, h) => Math.min(1.1, (width - 2 * PADDING) / w, (height - 2 * PADDING) / h);
  const across = zoom(span(layers, 180, LAYOUT.rankSep), span(widest, 56, LAYOUT.nodeSep));
  const down = zoom(span(widest, 180, LAYOUT.nodeSep), span(layers, 56, LAYOUT.rankSep));
  return down > across * 1.2 ? 'TB' : 'LR';
}

class DagCanvas extends AppElement {
  attach() {
    if (!this.cy) this.build();
    this.listen('project', () => this.reset());
    this.listen('nodes', () => this.sync());
    this.listen('executions', () => this.paint());
    this.listen('run-view', () => this.paint());
    this.listen('selection', () => this.select());
    this.pulse = setInterval(() => this.cy.nodes(`[status = "${RUNNING}"]`).toggleClass('pulse'), 700);
    // Until the user pans or zooms, the graph stays fitted and centred as the window changes size.
    this.resizer = new ResizeObserver(() => {
      this.cy.resize();
      if (this.autoFit) this.fit();
    });
    this.resizer.observe(this.container);
    this.reset();
  }

  detach() {
    clearInterval(this.pulse);
    this.resizer?.disconnect();
  }

  build() {
    this.container = h('div', { class: 'cy', 'aria-label': 'DAG canvas: drag to pan, scroll to zoom', role: 'img' });
    this.append(this.container);
    this.colors = statusColors();
    this.labels = labelMode(1);
    this.cy = cytoscape({ container: this.container, style: styleSheet(this.colors, this.labels), minZoom: 0.05,
      maxZoom: 2.5, boxSelectionEnabled: false, selectionType: 'single' });
    this.connectFrom = null;
    this.connecting = false;
    this.autoFit = true;
    this.cy.on('zoom', () => this.restyleLabels());
    this.cy.on('dragpan scrollzoom pinchzoom', () => { this.autoFit = false; });
    this.cy.on('tap', 'node', (event) => this.tapNode(event.target.id()));
    this.tip = new NodeTip(this);
    this.cy.on('mouseover', 'node', (event) => this.showTip(event.target.id()));
    this.cy.on('mouseout', 'node', () => this.tip.hide());
    this.cy.on('viewport', () => this.tip.hide());
    this.cy.on('tap', 'edge', (event) => {
      const edge = event.target;
      if (isGroup(edge.data('source')) || isGroup(edge.data('target'))) return; // it stands for several edges
      this.store.selectEdge({ source: edge.data('source'), target: edge.data('target') });
    });
    this.cy.on('tap', (event) => {
      if (event.target === this.cy) {
        this.setConnectMode(false);
        this.store.selectNode(null);
      }
    });
  }

  reset() {
    this.cy.elements().remove();
    this.shape = '';
    this.collapsed = this.store.projectId ? loadCollapsed(this.store.projectId) : new Set();
    this.setConnectMode(false);
    this.sync();
  }

  /** Draw the graph again, and lay it out, only when its shape (nodes, edges, groups) changed. */
  sync() {
    const nodes = this.store.nodes;
    this.groups = planGroups(nodes);
    for (const plan of this.collapsed) if (!this.groups.has(plan)) this.collapsed.delete(plan);
    const elements = graphElements(nodes, this.groups, this.collapsed);
    const shape = [...elements.nodes.map((n) => `${n.id}^${n.parent ?? ''}${n.collapsed ? '-' : ''}`),
      ...elements.edges.map((e) => e.id)].sort().join('|');
    const cy = this.cy;
    if (shape !== this.shape) {
      this.shape = shape;
      cy.batch(() => {
        cy.elements().remove();
        // Parents before their children: Cytoscape needs a compound node to exist first.
        for (const node of elements.nodes) {
          const data = node.parent ? { id: node.id, parent: node.parent } : { id: node.id };
          const classes = node.group === undefined ? '' : node.collapsed ? 'group-closed' : 'group-open';
          cy.add({ group: 'nodes', data, classes });
        }
        for (const edge of elements.edges) cy.add({ group: 'edges', data: edge });
        if (this.connectFrom) cy.getElementById(this.connectFrom).addClass('source');
      });
      this.paint();
      const rankDir = direction(nodes, this.container.clientWidth, this.container.clientHeight);
      cy.layout({ ...LAYOUT, rankDir }).run();
      this.fit();
    } else {
      this.paint();
    }
    this.select();
  }

  /** Collapse a plan's tasks into one node, or expand them again (remembered for the project). */
  toggleGroup(planId, collapse = !this.collapsed.has(planId)) {
    if (collapse) this.collapsed.add(planId);
    else this.collapsed.delete(planId);
    saveCollapsed(this.store.projectId, this.collapsed);
    this.sync();
  }

  /** The element that shows a node: the node itself, or its collapsed group. */
  shownId(nodeId) {
    const plan = this.store.nodes.get(nodeId)?.planned_by;
    return plan && this.collapsed.has(plan) && this.groups?.has(plan) ? groupId(plan) : nodeId;
  }

  /** Draw the labels as `zoom` needs them (set before a viewport change, it saves a second restyle). */
  restyleLabels(zoom = this.cy.zoom()) {
    const labels = labelMode(zoom);
    if (labels.mode === this.labels.mode && labels.size === this.labels.size) return;
    this.labels = labels;
    this.cy.style().fromJson(styleSheet(this.colors, labels)).update();
  }

  paint() {
    const { nodes, viewedRun } = this.store;
    const latest = this.store.shownExecutions();
    const never = viewedRun ? 'not in this run' : 'not run yet';
    const distinct = distinctTitles(nodes.values());
    this.cy.batch(() => {
      for (const node of nodes.values()) {
        const element = this.cy.getElementById(node.id);
        if (element.empty()) continue;
        const status = latest.get(node.id)?.status || NONE;
        const kind = node.kind === NODE_KIND.AGENT ? '' : `${node.kind} · `;
        const icon = statusIcon(status);
        const label = `${node.title}\n${icon} ${kind}${status === NONE ? never : statusLabel(status)}`;
        const own = distinct.get(node.id) ?? node.title; // what tells it apart from the others
        const short = status === NONE ? own : `${icon} ${own}`; // every letter counts
        const title = own.length > WRAPPED_CHARS ? `${own.slice(0, WRAPPED_CHARS - 1)}…` : own;
        const wrapped = status === NONE ? title : `${icon} ${title}`;
        if (element.data('status') !== status) element.data('status', status);
        if (element.data('kind') !== node.kind) element.data('kind', node.kind);
        if (element.data('label') !== label) element.data('label', label);
        if (element.data('short') !== short) element.data('short', short);
        if (element.data('wrapped') !== wrapped) element.data('wrapped', wrapped);
        if (status !== RUNNING) element.removeClass('pulse');
      }
      for (const [plan, tasks] of this.groups ?? []) this.paintGroup(plan, tasks, latest);
    });
  }

  paintGroup(planId, tasks, latest) {
    const element = this.cy.getElementById(groupId(planId));
    if (element.empty()) return;
    const title = this.store.nodes.get(planId)?.title ?? planId;
    const count = `${tasks.length} task${tasks.length === 1 ? '' : 's'}`;
    let data;
    if (this.collapsed.has(planId)) {
      const { status, text } = groupSummary(tasks, latest);
      data = { status, label: `▸ ${count} from ${title}\n${text}`, wrapped: `▸ ${count}: ${text}`,
        short: `▸ ${count}` };
    } else {
      const label = `▾ ${count} from ${title}`;
      data = { label, wrapped: label, short: `▾ ${count}` };
    }
    for (const [key, value] of Object.entries(data)) if (element.data(key) !== value) element.data(key, value);
  }

  select() {
    const { selectedNode, selectedEdge } = this.store;
    const id = selectedNode ? this.shownId(selectedNode)
      : selectedEdge ? `${selectedEdge.source}->${selectedEdge.target}` : null;
    this.cy.batch(() => {
      this.cy.elements(':selected').filter((e) => e.id() !== id).unselect();
      if (id) this.cy.getElementById(id).select();
    });
  }

  tapNode(nodeId) {
    if (isGroup(nodeId)) {
      if (!this.connecting) this.toggleGroup(planOf(nodeId));
      return;
    }
    if (!this.connecting) {
      this.store.selectNode(nodeId);
      return;
    }
    if (!this.connectFrom) {
      this.connectFrom = nodeId;
      this.cy.getElementById(nodeId).addClass('source');
      this.announce();
      return;
    }
    const source = this.connectFrom;
    this.setConnectMode(false);
    if (source !== nodeId) this.actions.connect(source, nodeId).catch(() => {});
  }

  setConnectMode(on) {
    this.connecting = on;
    this.connectFrom = null;
    this.cy.nodes('.source').removeClass('source');
    this.announce();
  }

  announce() {
    this.dispatchEvent(new CustomEvent('connect-mode', { bubbles: true,
      detail: { on: this.connecting, from: this.connectFrom } }));
  }

  /** Where a node is drawn, in page pixels (the browser tests click there). */
  nodeCenter(nodeId) {
    const position = this.cy.getElementById(nodeId).renderedPosition();
    const box = this.container.getBoundingClientRect();
    return { x: box.left + position.x, y: box.top + position.y };
  }

  /** Fit and centre the graph, but do not blow a small graph up past 110 %. */
  fit() {
    this.autoFit = true;
    const cy = this.cy;
    const width = this.container.clientWidth;
    const height = this.container.clientHeight;
    if (!cy.nodes().length || !width || !height) return;
    // Labels sit inside their nodes: the boxes alone give the extent, without measuring any text.
    const box = cy.nodes().boundingBox({ includeLabels: false, includeOverlays: false });
    const band = this.overlayBand(height); // the legend, zoom buttons and minimap float at the bottom
    const room = Math.max(height / 3, height - band);
    const zoom = Math.max(cy.minZoom(), Math.min(1.1, (width - 2 * PADDING) / box.w, (room - 2 * PADDING) / box.h));
    this.restyleLabels(zoom);
    cy.viewport({ zoom, pan: { x: width / 2 - zoom * (box.x1 + box.w / 2), y: room / 2 - zoom * (box.y1 + box.h / 2) } });
  }

  /** How far up from the canvas's bottom the floating overlays reach (0 when none is shown). */
  overlayBand(height) {
    const bottom = this.container.getBoundingClientRect().bottom;
    let band = 0;
    // The minimap is left out: it shows only while part of the graph is out of view, never after Fit.
    for (const overlay of this.parentElement?.querySelectorAll(':scope > .legend, .zoom-controls') ?? []) {
      const rect = overlay.getBoundingClientRect();
      if (rect.height) band = Math.max(band, bottom - rect.top);
    }
    return Math.min(band, height);
  }

  /** Zoom in (`factor` > 1) or out around the centre of the view. */
  zoomBy(factor) {
    const cy = this.cy;
    this.autoFit = false;
    cy.zoom({ level: cy.zoom() * factor,
      renderedPosition: { x: this.container.clientWidth / 2, y: this.container.clientHeight / 2 } });
  }

  zoomIn() { this.zoomBy(ZOOM_STEP); }
  zoomOut() { this.zoomBy(1 / ZOOM_STEP); }

  /** Select a node and centre the view on it, zoomed in far enough for its full label. */
  reveal(nodeId) {
    const plan = this.store.nodes.get(nodeId)?.planned_by;
    if (plan && this.collapsed.has(plan)) this.toggleGroup(plan, false);
    const node = this.cy.getElementById(nodeId);
    if (node.empty()) return false;
    this.autoFit = false;
    this.store.selectNode(nodeId);
    if (this.cy.zoom() < 1) this.cy.zoom(1);
    this.cy.center(node);
    this.showTip(nodeId); // the keyboard's way to the full title: find a node, the tip names it
    return true;
  }

  /** The tip with the node's full title, status, duration and agent, just below the node. */
  showTip(nodeId) {
    const element = this.cy.getElementById(nodeId);
    if (element.empty() || isGroup(nodeId)) return; // a group's label says what it holds
    const box = element.renderedBoundingBox({ includeLabels: false });
    this.tip.show(this.store.nodes.get(nodeId), this.store.shownExecutions().get(nodeId), { x: box.x1, y: box.y2 + 4 });
  }
}

customElements.define('orc-dag-canvas', DagCanvas);
