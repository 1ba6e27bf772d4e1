// <orc-event-log>: an execution's agent events, rendered as they arrive without freezing the page.
//
// Events are queued and drawn in requestAnimationFrame batches of at most BATCH entries or
// FRAME_BUDGET_MS (markdown costs far more than a plain line), each one rendered on its own
// (render-event.js: markdown per event, never the whole log); only the newest CAP entries stay in
// the DOM (older ones are counted, not drawn), so 20,000 lines cost a bounded amount of work per
// frame and of memory. It reads like a terminal: each entry has its line number (data-line; the
// timestamp too with the "show-times" class, and long lines unwrapped with "nowrap"). It follows the
// tail unless the user scrolled up; then "↓ Follow" (floating at the bottom) resumes it in one click.
//
// search(query) shows only the entries whose words contain the query (matches marked), among the
// newest KEEP events it holds (adopt() gives it the stored ones it was not given); an empty query
// brings the whole log back.

import { h, render } from '../dom.js';
import { eventText, mergeDelta, redraw, renderEvent } from '../render-event.js';

const CAP = 1500;
const BATCH = 400;
const FRAME_BUDGET_MS = 12; // a frame draws at most BATCH entries, and stops once this is spent
const KEEP = 50000;

class EventLog extends HTMLElement {
  connectedCallback() {
    if (this.list) return;
    this.notice = h('p', { class: 'log-notice muted', hidden: true });
    this.list = h('div', { class: 'log-lines', role: 'log', 'aria-label': 'Agent output' });
    this.status = h('p', { class: 'log-status muted' });
    this.followButton = h('button', { type: 'button', class: 'small follow-tail', 'data-action': 'follow-tail',
      hidden: true, title: 'Scroll to the newest output and keep following it', onclick: () => this.followTail() },
    '↓ Follow');
    render(this, this.notice, this.list, this.status, this.followButton);
    this.addEventListener('scroll', () => this.scrolled(), { passive: true });
    // The panel around the log grows when an execution ends (its result, its checks): the log's own
    // height shrinks without a scroll or a new entry, and a log that follows its tail must stay there.
    new ResizeObserver(() => {
      if (this.stick) this.toBottom();
    }).observe(this);
    this.reset('');
  }

  /**
   * Start over (another execution). `message` shows while there is nothing yet; `plain`: the agent
   * prints plain text (lines with ANSI colours, not markdown).
   */
  reset(message, { plain = false } = {}) {
    this.plain = plain;
    this.events = []; // the newest KEEP events, for search
    this.forgotten = 0; // events given but no longer kept
    this.query = '';
    this.found = 0; // entries matching the query
    this.count = 0;
    this.clear();
    this.setStatus(message);
  }

  /** Following the tail (true) or held where the user scrolled to; the attribute is for styles and tests. */
  setStick(stick) {
    if (stick === this.stick) return;
    this.stick = stick;
    this.dataset.follow = String(stick);
    this.followButton.hidden = stick;
  }

  followTail() {
    this.setStick(true);
    this.toBottom();
  }

  toBottom() {
    this.scrollTop = this.scrollHeight;
    this.autoTop = this.scrollTop; // where the log put itself: a scroll event from there is not the user's
  }

  /**
   * Only a scroll up by the user stops following the tail. A scroll event is dispatched a frame after
   * the scroll: the log may have grown, or its box shrunk, meanwhile, which leaves it short of the
   * bottom without anyone having scrolled.
   */
  scrolled() {
    if (this.scrollTop + this.clientHeight >= this.scrollHeight - 24) this.setStick(true);
    else if (this.stick && this.scrollTop >= (this.autoTop ?? 0) - 1) this.toBottom();
    else this.setStick(false);
  }

  /** Empty the drawing (not the events). */
  clear() {
    this.queue = [];
    this.dropped = 0;
    this.lineNo = 0; // the number of the last entry drawn (entries dropped unseen are counted too)
    this.setStick(true);
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.list.replaceChildren();
    this.notice.hidden = true;
    delete this.dataset.matches;
  }

  /** What the log says while it has no entry (loading, waiting, no output). */
  setStatus(message) {
    this.message = message || '';
    this.showStatus(this.message);
  }

  showStatus(message) {
    this.status.textContent = message || '';
    this.status.hidden = !message;
  }

  /** Queue execution.output events (in seq order) for drawing. */
  push(events) {
    for (const event of events) this.events.push(event);
    if (this.events.length > KEEP) {
      const forget = this.events.length - KEEP;
      this.events.splice(0, forget);
      this.forgotten += forget;
    }
    this.count += events.length;
    if (!this.query) {
      this.draw(events);
      return;
    }
    const found = events.filter((e) => this.matches(e));
    this.found += found.length;
    this.dataset.matches = String(this.found);
    this.showStatus(this.searchStatus());
    this.draw(found);
  }

  /**
   * Every stored event up to now, read later than the newest ones it was given: they replace what it
   * holds (keeping live events newer than them) for search; the drawing is redone by search().
   */
  adopt(stored) {
    const last = stored.length ? stored[stored.length - 1].seq : 0;
    const events = stored.concat(this.events.filter((e) => e.seq > last));
    this.forgotten = Math.max(0, events.length - KEEP);
    this.events = this.forgotten ? events.slice(this.forgotten) : events;
    this.count = Math.max(this.count, events.length);
    this.query = null; // the next search() draws again, even for the same words
  }

  draw(events) {
    for (const event of events) this.queue.push(event);
    if (this.queue.length > CAP) {
      // Never draw what would be trimmed right away.
      const drop = this.queue.length - CAP;
      this.queue.splice(0, drop);
      this.dropped += drop;
      this.lineNo += drop;
    }
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  matches(event) {
    return eventText(event.output || {}).toLowerCase().includes(this.query);
  }

  /** Show only the entries that contain `query` (any case); '' shows everything again. */
  search(query) {
    const wanted = query.trim().toLowerCase();
    if (wanted === this.query) return;
    this.query = wanted;
    this.clear();
    const shown = wanted ? this.events.filter((e) => this.matches(e)) : this.events;
    this.found = shown.length;
    if (wanted) this.dataset.matches = String(this.found);
    this.draw(shown);
    this.showStatus(this.searchStatus());
  }

  searchStatus() {
    const found = this.found;
    if (!this.query) return this.count ? '' : this.message;
    const scope = this.forgotten ? ` (searched the newest ${this.events.length.toLocaleString()} entries)` : '';
    return found ? `${found.toLocaleString()} entr${found === 1 ? 'y matches' : 'ies match'}${scope}.`
      : `Nothing matches “${this.query}”${scope}.`;
  }

  flush() {
    this.frame = null;
    const deadline = performance.now() + FRAME_BUDGET_MS;
    const fragment = document.createDocumentFragment();
    let last = this.list.lastElementChild;
    const grown = new Set();
    let drawn = 0;
    while (drawn < this.queue.length && drawn < BATCH && (drawn === 0 || performance.now() < deadline)) {
      const event = this.queue[drawn];
      drawn += 1;
      if (mergeDelta(last, event.output || {})) {
        grown.add(last);
        continue;
      }
      last = renderEvent(event, { plain: this.plain, query: this.query });
      this.lineNo += 1;
      last.dataset.line = String(this.lineNo);
      if (this.query) mark(last, this.query);
      fragment.append(last);
    }
    this.queue.splice(0, drawn);
    for (const element of grown) {
      redraw(element);
      if (this.query) mark(element, this.query);
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
    if (this.count && !this.query) this.showStatus('');
    this.dataset.count = String(this.count);
    if (this.stick) this.toBottom();
    if (this.queue.length) this.frame = requestAnimationFrame(() => this.flush());
  }
}

/** Wrap each occurrence of `query` (lower case) in the element's text in <mark>. */
function mark(element, query) {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const node of nodes) {
    const text = node.nodeValue;
    const lower = text.toLowerCase();
    let at = lower.indexOf(query);
    if (at < 0) continue;
    const fragment = document.createDocumentFragment();
    let from = 0;
    while (at >= 0) {
      fragment.append(text.slice(from, at), h('mark', {}, text.slice(at, at + query.length)));
      from = at + query.length;
      at = lower.indexOf(query, from);
    }
    fragment.append(text.slice(from));
    node.replaceWith(fragment);
  }
}

customElements.define('orc-event-log', EventLog);
