// <orc-dag-canvas>: the project's DAG drawn by Cytoscape, laid out by dagre (left to right), with
// pan and zoom. A node's colour is the status of its latest execution (or, while the runs view shows
// a run, of its execution in that run); running nodes pulse.
// Connect mode: tap the upstream node, then the downstream one.

import cytoscape from '../vendor/cytoscape.esm.min.js';
import dagre from '../vendor/cytoscape-dagre.esm.min.js';
import { h } from '../dom.js';
import { AppElement } from '../element.js';
import { statusLabel } from '../format.js';
import { EXECUTION_STATUS, NODE_KIND } from '../statuses.js';

cytoscape.use(dagre);

const RUNNING = EXECUTION_STATUS.RUNNING;
const NONE = 'none'; // a node that never ran

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

const styleSheet = (colors) => [
  { selector: 'node', style: {
    shape: 'round-rectangle', width: 180, height: 56, label: 'data(label)', 'text-wrap': 'wrap',
    'text-max-width': 168, 'text-valign': 'center', 'font-size': 13, 'font-family': 'system-ui, sans-serif',
    color: '#0f172a', 'background-color': colors[NONE].fill, 'border-width': 2, 'border-color': colors[NONE].line,
    'transition-property': 'border-width', 'transition-duration': '0.5s' } },
  ...Object.entries(colors).map(([status, { fill, line }]) => ({ selector: `node[status = "${status}"]`,
    style: { 'background-color': fill, 'border-color': line } })),
  { selector: `node[status = "${EXECUTION_STATUS.SKIPPED}"]`, style: { 'border-style': 'dashed', color: '#6b7280' } },
  // A gate (waits for a person's decision, runs no agent) is a hexagon.
  { selector: `node[kind = "${NODE_KIND.GATE}"]`, style: { shape: 'hexagon' } },
  // A plan node (its agent's task list grows the DAG below it) has cut corners.
  { selector: `node[kind = "${NODE_KIND.PLAN}"]`, style: { shape: 'cut-rectangle' } },
  { selector: 'node.pulse', style: { 'border-width': 7 } },
  // A halo behind the selected node, so its fill keeps the status colour.
  { selector: 'node:selected', style: { 'underlay-color': '#2563eb', 'underlay-opacity': 0.22,
    'underlay-padding': 7, 'underlay-shape': 'round-rectangle' } },
  { selector: 'node.source', style: { 'border-style': 'double', 'border-width': 6, 'border-color': '#7c3aed' } },
  { selector: 'edge', style: { width: 2, 'curve-style': 'bezier', 'target-arrow-shape': 'triangle',
    'line-color': '#94a3b8', 'target-arrow-color': '#94a3b8', 'arrow-scale': 1.2 } },
  { selector: 'edge:selected', style: { 'line-color': '#7c3aed', 'target-arrow-color': '#7c3aed', width: 4 } },
];

const LAYOUT = { name: 'dagre', rankDir: 'LR', nodeSep: 30, rankSep: 70, padding: 30, animate: false };

class DagCanvas extends AppElement {
  attach() {
    if (!this.cy) this.build();
    this.listen('project', () => this.reset());
    this.listen('nodes', () => this.sync());
    this.listen('executions', () => this.paint());
    this.listen('run-view', () => this.paint());
    this.listen('selection', () => this.select());
    this.pulse = setInterval(() => this.cy.nodes(`[status = "${RUNNING}"]`).toggleClass('pulse'), 700);
    this.resizer = new ResizeObserver(() => this.cy.resize());
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
    this.cy = cytoscape({ container: this.container, style: styleSheet(statusColors()), minZoom: 0.2, maxZoom: 2.5,
      boxSelectionEnabled: false, selectionType: 'single' });
    this.connectFrom = null;
    this.connecting = false;
    this.cy.on('tap', 'node', (event) => this.tapNode(event.target.id()));
    this.cy.on('tap', 'edge', (event) => {
      const edge = event.target;
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
    this.setConnectMode(false);
    this.sync();
  }

  /** Add what is new, remove what is gone; lay out again only when the graph's shape changed. */
  sync() {
    const nodes = this.store.nodes;
    const shape = [...nodes.values()].map((n) => `${n.id}<${n.depends_on.join(',')}`).sort().join('|');
    const cy = this.cy;
    cy.batch(() => {
      for (const element of cy.elements()) {
        const keep = element.isNode() ? nodes.has(element.id())
          : nodes.get(element.data('target'))?.depends_on.includes(element.data('source'));
        if (!keep) element.remove();
      }
      for (const node of nodes.values()) {
        if (cy.getElementById(node.id).empty()) cy.add({ group: 'nodes', data: { id: node.id } });
      }
      for (const node of nodes.values()) {
        for (const up of node.depends_on) {
          const id = `${up}->${node.id}`;
          if (cy.getElementById(id).empty() && nodes.has(up)) {
            cy.add({ group: 'edges', data: { id, source: up, target: node.id } });
          }
        }
      }
    });
    this.paint();
    if (shape !== this.shape) {
      this.shape = shape;
      cy.layout({ ...LAYOUT, fit: true }).run();
      this.limitZoom();
    }
    this.select();
  }

  paint() {
    const { nodes, viewedRun } = this.store;
    const latest = this.store.shownExecutions();
    const never = viewedRun ? 'not in this run' : 'not run yet';
    this.cy.batch(() => {
      for (const node of nodes.values()) {
        const element = this.cy.getElementById(node.id);
        if (element.empty()) continue;
        const status = latest.get(node.id)?.status || NONE;
        const kind = node.kind === NODE_KIND.AGENT ? '' : `${node.kind} · `;
        const label = `${node.title}\n${kind}${status === NONE ? never : statusLabel(status)}`;
        if (element.data('status') !== status) element.data('status', status);
        if (element.data('kind') !== node.kind) element.data('kind', node.kind);
        if (element.data('label') !== label) element.data('label', label);
        if (status !== RUNNING) element.removeClass('pulse');
      }
    });
  }

  select() {
    const { selectedNode, selectedEdge } = this.store;
    const id = selectedNode || (selectedEdge ? `${selectedEdge.source}->${selectedEdge.target}` : null);
    this.cy.batch(() => {
      this.cy.elements(':selected').filter((e) => e.id() !== id).unselect();
      if (id) this.cy.getElementById(id).select();
    });
  }

  tapNode(nodeId) {
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

  /** Fit the graph, but do not blow a small graph up past 110 %. */
  fit() {
    this.cy.fit(undefined, 30);
    this.limitZoom();
  }

  limitZoom() {
    if (this.cy.zoom() > 1.1) {
      this.cy.zoom(1.1);
      this.cy.center();
    }
  }
}

customElements.define('orc-dag-canvas', DagCanvas);
