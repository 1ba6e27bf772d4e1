// <orc-event-log>: an execution's agent events, rendered as they arrive without freezing the page.
//
// Events are queued and drawn in requestAnimationFrame batches of at most BATCH entries; only the
// newest CAP entries stay in the DOM (older ones are counted, not drawn), so 20,000 lines cost a
// bounded amount of work per frame and of memory. It sticks to the bottom unless the user scrolled up.

import { h, render } from '../dom.js';
import { mergeDelta, renderCheck, renderOutput } from '../render-event.js';

const CAP = 1500;
const BATCH = 400;

class EventLog extends HTMLElement {
  connectedCallback() {
    if (this.list) return;
    this.notice = h('p', { class: 'log-notice muted', hidden: true });
    this.list = h('div', { class: 'log-lines', role: 'log', 'aria-label': 'Agent output' });
    this.status = h('p', { class: 'log-status muted' });
    render(this, this.notice, this.list, this.status);
    this.addEventListener('scroll', () => {
      this.stick = this.scrollTop + this.clientHeight >= this.scrollHeight - 24;
    }, { passive: true });
    this.reset('');
  }

  /** Start over (another execution). `message` shows while there is nothing yet. */
  reset(message) {
    this.queue = [];
    this.dropped = 0;
    this.count = 0;
    this.stick = true;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.list.replaceChildren();
    this.notice.hidden = true;
    this.setStatus(message);
  }

  setStatus(message) {
    this.status.textContent = message || '';
    this.status.hidden = !message;
  }

  /** Queue execution.output events (in seq order) for drawing. */
  push(events) {
    for (const event of events) this.queue.push(event);
    if (this.queue.length > CAP) {
      // Never draw what would be trimmed right away.
      const drop = this.queue.length - CAP;
      this.queue.splice(0, drop);
      this.dropped += drop;
    }
    this.count += events.length;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = null;
    const batch = this.queue.splice(0, BATCH);
    const fragment = document.createDocumentFragment();
    let last = this.list.lastElementChild;
    for (const event of batch) {
      const output = event.output || {};
      if (mergeDelta(last, output)) continue;
      last = event.check ? renderCheck(event) : renderOutput(output, event.seq);
      fragment.append(last);
    }
    this.list.append(fragment);
    const excess = this.list.childElementCount - CAP;
    for (let i = 0; i < excess; i++) this.list.firstElementChild.remove();
    if (excess > 0) this.dropped += excess;
    if (this.dropped) {
      this.notice.hidden = false;
      this.notice.textContent = `${this.dropped.toLocaleString()} earlier entries are not shown; `
        + `the newest ${CAP.toLocaleString()} are.`;
    }
    if (this.count) this.setStatus('');
    this.dataset.count = String(this.count);
    if (this.stick) this.scrollTop = this.scrollHeight;
    if (this.queue.length) this.frame = requestAnimationFrame(() => this.flush());
  }
}

customElements.define('orc-event-log', EventLog);
