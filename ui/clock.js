// One clock for the whole page, in the hub's time. Every running duration and every "2 min ago" is
// drawn from the same reading, taken once a second, so the node list, the inspector and the
// history always agree, and all of them tick together.
//
// The hub stamps everything (started_at, event ts) with its own clock; the laptop's may be off by
// minutes. Each hub timestamp is a lower bound of the hub's time when it reaches us, and a live
// event's `ts` is the hub's time less the delivery delay: the largest `ts - Date.now()` seen is the
// best estimate of the skew. It is kept for WINDOW_MS, then the next sample replaces it (so a
// corrected laptop clock is followed). Durations are clamped at zero whatever the estimate.

import { ago, elapsed, time } from './format.js';

const TICK_MS = 1000;
const WINDOW_MS = 10 * 60 * 1000;

class Clock {
  constructor() {
    this.skew = 0; // hub time - browser time, in seconds
    this.sampled = -Infinity; // Date.now() when `skew` was last raised from a live event
    this.live = false; // has a live event set `skew` yet?
    this.reading = this.hubNow();
    this.timer = null;
  }

  /** The hub's time now (seconds since the epoch), from the browser's clock and the skew. */
  hubNow() {
    return Date.now() / 1000 + this.skew;
  }

  /** The hub's time at the last tick: what everything on the page is drawn with. */
  now() {
    return this.reading;
  }

  /** A live event's timestamp, received just now: the hub's clock read that much before. */
  observeLive(ts) {
    if (typeof ts !== 'number' || !Number.isFinite(ts)) return;
    const browser = Date.now();
    const sample = ts - browser / 1000;
    if (!this.live || sample > this.skew || browser - this.sampled > WINDOW_MS) {
      this.sampled = browser;
      this.live = true;
      this.setSkew(sample);
    }
  }

  /** Any hub timestamp (a stored event, an execution's start): the hub's time is at least that. */
  observePast(ts) {
    if (typeof ts !== 'number' || !Number.isFinite(ts)) return;
    const sample = ts - Date.now() / 1000;
    if (sample > this.skew) this.setSkew(sample);
  }

  /** A new estimate; a change of a second or more is drawn at once, not at the next tick. */
  setSkew(skew) {
    const jump = Math.abs(skew - this.skew) >= 1;
    this.skew = skew;
    if (jump) this.read();
  }

  start() {
    if (this.timer !== null) return;
    this.tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  /** Read the clock and redraw every live time on the page. */
  read() {
    this.reading = this.hubNow();
    for (const el of document.querySelectorAll('[data-clock]')) draw(el, this.reading);
  }

  /** Read, then wait for the browser's next whole second. */
  tick() {
    this.read();
    this.timer = setTimeout(() => this.tick(), TICK_MS - (Date.now() % TICK_MS));
  }
}

export const clock = new Clock();
clock.start();

function draw(el, now) {
  const start = Number(el.dataset.start);
  const kind = el.dataset.clock;
  const text = kind === 'ago' ? ago(start, now) : elapsed(kind === 'countdown' ? start - now : now - start);
  if (el.textContent !== text) el.textContent = text;
}

/**
 * An execution's duration as text for a finished one, or an element that ticks while it runs.
 * `null` when it has not started.
 */
export function durationOf(execution) {
  if (!execution || !execution.started_at) return null;
  if (execution.finished_at) return elapsed(Math.max(0, execution.finished_at - execution.started_at), true);
  const el = document.createElement('span');
  el.className = 'live-duration';
  el.dataset.clock = 'elapsed';
  el.dataset.start = String(execution.started_at);
  draw(el, clock.now());
  return el;
}

/** The time left until `ts` (hub time), ticking down to 0 s. */
export function countdown(ts) {
  const el = document.createElement('span');
  el.className = 'countdown';
  el.dataset.clock = 'countdown';
  el.dataset.start = String(ts);
  draw(el, clock.now());
  return el;
}

/** "2 min ago", kept current, with the exact time on hover. */
export function relativeTime(ts) {
  if (!ts) return '–';
  const el = document.createElement('time');
  el.dataset.clock = 'ago';
  el.dataset.start = String(ts);
  el.dateTime = new Date(ts * 1000).toISOString();
  el.title = time(ts, true);
  draw(el, clock.now());
  return el;
}
