// Formatting of the numbers an execution reports: durations, tokens, cost, times. The statuses
// themselves come from the hub (statuses.js, made from orchestra/statuses.py).

import { EXECUTION_STATUS, UNFINISHED_EXECUTION_STATUSES, UNSUCCESSFUL_EXECUTION_STATUSES } from './statuses.js';

/** Executions that have not ended: queued, running, or a gate waiting for a decision. */
export const ACTIVE = new Set(UNFINISHED_EXECUTION_STATUSES);
/** Executions that ended without succeeding (a skipped one never ran): they can be run again. */
export const FAILED = new Set(UNSUCCESSFUL_EXECUTION_STATUSES);

/** How far along an execution is: queued, started (running, or a gate waiting), ended. */
function progress(status) {
  if (status === EXECUTION_STATUS.QUEUED) return 0;
  return ACTIVE.has(status) ? 1 : 2;
}

/**
 * Merge two views of one execution (a REST read and a live event) without going back in time:
 * a read that was answered before the latest event must not turn a running execution back into a
 * queued one.
 */
export function mergeExecution(older, newer) {
  if (!older) return newer;
  return progress(newer.status) >= progress(older.status) ? { ...older, ...newer } : { ...newer, ...older };
}

export function statusLabel(status) {
  return status ? status.replace('_', ' ') : 'never run';
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * Time gone by, never negative (a laptop clock behind the hub's must not show "-3 s"). Whole
 * seconds while it ticks; `precise` for a finished duration ("1.3 s", "450 ms").
 */
export function elapsed(seconds, precise = false) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, seconds);
  if (precise) return duration(s);
  const whole = Math.floor(s);
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

export function tokens(execution) {
  if (!execution) return '–';
  const { input_tokens: input, output_tokens: output } = execution;
  if (input == null && output == null) return '–';
  return `${(input ?? 0).toLocaleString()} in / ${(output ?? 0).toLocaleString()} out`;
}

export function cost(usd) {
  if (usd === null || usd === undefined) return '–'; // the agent reports no cost
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toFixed(5)}` : `$${usd.toFixed(2)}`;
}

/** A hub timestamp as a local time (today) or date and time; `full`: always the date, with seconds. */
export function time(ts, full = false) {
  if (!ts) return '–';
  const date = new Date(ts * 1000);
  if (full) return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago" (`now`: the hub's time, clock.js). */
export function ago(ts, now = Date.now() / 1000) {
  if (!ts) return 'never';
  const s = Math.max(0, now - ts);
  if (s < 5) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Cut a long string for display; the rest is summarised. */
export function clip(text, max = 4000) {
  const value = String(text ?? '');
  if (value.length <= max) return value;
  return `${value.slice(0, max)}\n… (${(value.length - max).toLocaleString()} more characters not shown)`;
}

/** How a run's work landed, in one line (as the terminal's `status` says it). */
export function landedText(landed) {
  if (!landed) return '';
  const commit = (landed.commit || '').slice(0, 12);
  if (landed.mode === 'merge') return `merged into ${landed.base} at ${commit}`;
  if (landed.mode === 'push') return `pushed ${landed.branch} at ${commit}`;
  return `${requestLabel(landed)} (${landed.branch} at ${commit})`;
}

/** `pull request #7`, or `merge request !7` on GitLab (its own name and sign); `short`: `PR #7` / `MR !7`. */
export function requestLabel(landed, short = false) {
  const gitlab = landed.forge === 'gitlab';
  const noun = short ? (gitlab ? 'MR' : 'PR') : (gitlab ? 'merge request' : 'pull request');
  return `${noun} ${gitlab ? '!' : '#'}${landed.number}`;
}
