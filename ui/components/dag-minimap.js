// <orc-dag-minimap>: an overview of a graph larger than the view (as in VS Code's minimap): every
// node as a small box in its status colour, the visible part as a frame. Click or drag in it to move
// the view there. It hides itself while the whole graph is in view.

import { h } from '../dom.js';

const WIDTH = 180;
const HEIGHT = 120;
const PAD = 6;

class DagMinimap extends HTMLElement {
  /** Follow `canvas` (an <orc-dag-canvas>): its Cytoscape instance and its status colours. */
  follow(canvas) {
    if (this.canvas === canvas) return;
    this.canvas = canvas;
    const ratio = window.devicePixelRatio || 1;
    this.surface = h('canvas', { width: WIDTH * ratio, height: HEIGHT * ratio, 'aria-hidden': 'true' });
    this.surface.style.width = `${WIDTH}px`;
    this.surface.style.height = `${HEIGHT}px`;
    this.replaceChildren(this.surface);
    this.setAttribute('title', 'Overview: click or drag to move the view');
    this.hidden = true;
    const cy = canvas.cy;
    cy.on('viewport add remove position data resize', () => this.schedule());
    const move = (event) => {
      if (event.type === 'pointermove' && !(event.buttons & 1)) return;
      this.panTo(event.offsetX, event.offsetY);
    };
    this.surface.addEventListener('pointerdown', (event) => {
      this.surface.setPointerCapture(event.pointerId);
      move(event);
    });
    this.surface.addEventListener('pointermove', move);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  /** Graph coordinates -> minimap pixels, fitting the whole graph in the box. */
  transform() {
    const box = this.canvas.cy.elements().boundingBox();
    const scale = Math.min((WIDTH - 2 * PAD) / (box.w || 1), (HEIGHT - 2 * PAD) / (box.h || 1));
    const dx = (WIDTH - box.w * scale) / 2 - box.x1 * scale;
    const dy = (HEIGHT - box.h * scale) / 2 - box.y1 * scale;
    return { scale, dx, dy };
  }

  draw() {
    const cy = this.canvas.cy;
    const view = cy.extent();
    const nodes = cy.nodes();
    const graph = nodes.boundingBox();
    const inView = nodes.empty() || (graph.x1 >= view.x1 && graph.x2 <= view.x2 && graph.y1 >= view.y1
      && graph.y2 <= view.y2);
    this.hidden = inView;
    if (inView) return;
    const { scale, dx, dy } = this.transform();
    const ratio = window.devicePixelRatio || 1;
    const g = this.surface.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, WIDTH, HEIGHT);
    const colors = this.canvas.colors;
    for (const node of nodes) {
      if (node.isParent()) continue; // a plan's open group: its tasks are drawn
      const b = node.boundingBox({ includeLabels: false });
      const color = colors[node.data('status')] || colors.none;
      g.fillStyle = color.line;
      g.fillRect(b.x1 * scale + dx, b.y1 * scale + dy, Math.max(2, b.w * scale), Math.max(2, b.h * scale));
    }
    g.strokeStyle = '#2563eb';
    g.lineWidth = 1.5;
    g.fillStyle = '#2563eb1a';
    const frame = [view.x1 * scale + dx, view.y1 * scale + dy, view.w * scale, view.h * scale];
    g.fillRect(...frame);
    g.strokeRect(...frame);
  }

  /** Centre the view on the graph point under minimap pixel (x, y). */
  panTo(x, y) {
    const { scale, dx, dy } = this.transform();
    const cy = this.canvas.cy;
    const point = { x: (x - dx) / scale, y: (y - dy) / scale };
    const zoom = cy.zoom();
    this.canvas.autoFit = false;
    cy.pan({ x: cy.width() / 2 - point.x * zoom, y: cy.height() / 2 - point.y * zoom });
  }
}

customElements.define('orc-dag-minimap', DagMinimap);
