// One execution.output event as DOM, for people: assistant text as sanitised markdown (markdown.js),
// a plain-text agent's lines with their ANSI colours (ansi.js), thinking collapsed, tool calls as
// collapsible blocks with the tool's name and arguments, long tool results folded behind "show
// more", errors loud. Each entry carries its time (shown on hover). eventText() is the same event as
// one line of text, for search, copy and download. See orchestra/agents/__init__.py for the kinds.

import { ansi, hasAnsi } from './ansi.js';
import { h } from './dom.js';
import { clip, cost } from './format.js';
import { markdown } from './markdown.js';
import { EVENT_TYPE } from './statuses.js';

const PREVIEW = 120;
const MAX_TEXT = 20000;
const FOLD_LINES = 8; // a tool result shows this many lines until "show more"
const MORE_STEP = 2000; // lines added per "show more"

function preview(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? '');
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > PREVIEW ? `${line.slice(0, PREVIEW)}…` : line;
}

function pretty(value) {
  if (typeof value === 'string') return clip(value, MAX_TEXT);
  try {
    return clip(JSON.stringify(value, null, 2), MAX_TEXT);
  } catch {
    return clip(String(value), MAX_TEXT);
  }
}

/** A tool result's output as text: Claude's content blocks are joined, other shapes shown as JSON. */
function resultText(output) {
  if (typeof output === 'string') return output;
  if (Array.isArray(output) && output.every((part) => part && typeof part.text === 'string')) {
    return output.map((part) => part.text).join('\n');
  }
  return pretty(output);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');
const days = new Map(); // local date text per day: toLocaleDateString is slow, and a log has few days

/** Hub timestamp -> "14:03:22.125", and with the date for the tooltip. */
function stamp(ts) {
  const date = new Date(ts * 1000);
  const short = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  const day = date.getFullYear() * 10000 + date.getMonth() * 100 + date.getDate();
  if (!days.has(day)) days.set(day, date.toLocaleDateString());
  return { short, full: `${days.get(day)} ${short}` };
}

function dated(element, event) {
  element.dataset.seq = event.seq;
  if (typeof event.ts === 'number') {
    const { short, full } = stamp(event.ts);
    element.dataset.time = short;
    element.title = `${full} · event ${event.seq}`;
  }
  return element;
}

function block(kind, ...children) {
  return h('div', { class: `ev ev-${kind}` }, ...children);
}

function collapsible(kind, summary, body, open = false) {
  return h('details', { class: `ev ev-${kind}`, open }, h('summary', {}, ...summary), body);
}

/** Text as coloured spans when it holds ANSI codes, else as itself. */
function colored(text) {
  return hasAnsi(text) ? ansi(text) : text;
}

/**
 * The event as an element. `plain`: the execution's agent prints plain text (output format `text`),
 * whose lines are shown as a terminal would, not as markdown. `query` (lower case): a search is on,
 * so a folded tool result shows down to its first matching line.
 */
export function renderEvent(event, { plain = false, query = '' } = {}) {
  return dated(renderOutput(event.output || {}, plain, query), event);
}

function renderOutput(output, plain, query) {
  switch (output.kind) {
    case 'text':
      return plain || hasAnsi(output.text)
        ? block('text ev-line', colored(clip(output.text, MAX_TEXT)))
        : markdownBlock(output.text);
    case 'thinking':
      return collapsible('thinking', [h('span', { class: 'label' }, 'Thinking'), ' ',
        h('span', { class: 'muted' }, preview(output.text))], h('pre', {}, clip(output.text, MAX_TEXT)));
    case 'tool_use':
      return collapsible('tool-use', [h('span', { class: 'label' }, `Tool call: ${output.name || '?'}`), ' ',
        h('span', { class: 'muted' }, preview(output.input))], h('pre', { class: 'tool-args' }, pretty(output.input)));
    case 'tool_result':
      return toolResult(output, query);
    case 'usage':
      return block('usage', `Usage: ${output.input_tokens ?? '?'} tokens in, ${output.output_tokens ?? '?'} out`,
        output.cost_usd != null ? ` · ${cost(output.cost_usd)}` : '');
    case 'system':
      return renderSystem(output);
    case 'error':
      return block('error', h('strong', {}, 'Error: '), colored(clip(output.message, MAX_TEXT)));
    case 'check':
      return renderCheck(output);
    case 'raw':
      return block(`raw${hasAnsi(output.line) ? ' term' : ''}`, h('code', {}, colored(clip(output.line, 2000))),
        output.truncated ? h('span', { class: 'muted' }, ` (line of ${output.truncated} bytes, cut)`) : '');
    default:
      return block('raw', h('code', {}, clip(JSON.stringify(output), 2000)));
  }
}

/** A check.started / check.finished event as a log entry: its `check` is the entry's output (kind 'check'). */
export function asLogEntry(event) {
  if (!event.check) return event;
  return { ...event, output: { kind: 'check', started: event.type === EVENT_TYPE.CHECK_STARTED, ...event.check } };
}

const checkVerdict = (check) => (check.passed ? 'passed' : check.error || `failed (exit ${check.exit_code})`);

/** A node's check: a step of the execution, its output folded (open when it failed). */
function renderCheck(check) {
  const command = h('code', {}, check.argv.join(' '));
  if (check.started) return block('check', h('span', { class: 'label' }, 'Check '), command);
  const element = collapsible('check', [h('span', { class: 'label' }, `Check ${checkVerdict(check)}: `), command],
    h('pre', {}, clip(check.output || '(no output)', MAX_TEXT)), !check.passed);
  element.classList.add(check.passed ? 'is-ok' : 'is-error');
  return element;
}

function markdownBlock(text) {
  const element = block('text md');
  element.source = String(text ?? '');
  element.append(markdown(clip(element.source, MAX_TEXT)));
  return element;
}

/** A tool result, open, with its first FOLD_LINES lines; "show more" draws the rest in steps. */
function toolResult(output, query) {
  const bad = Boolean(output.is_error) || (output.exit_code !== undefined && output.exit_code !== 0);
  const text = resultText(output.output ?? '');
  const lines = text === '' ? [] : text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  const facts = [bad ? 'error' : 'ok'];
  if (output.exit_code !== undefined) facts.push(`exit ${output.exit_code}`);
  if (output.truncated) facts.push('truncated by the agent');
  const body = h('pre', { class: `result-lines${hasAnsi(text) ? ' term' : ''}` });
  const more = h('button', { type: 'button', class: 'link show-more', 'data-action': 'show-more' });
  let shown = 0;
  const step = (count) => {
    const end = Math.min(lines.length, shown + count);
    body.append(colored((shown ? '\n' : '') + lines.slice(shown, end).join('\n')));
    shown = end;
    const left = lines.length - shown;
    more.hidden = left === 0;
    more.textContent = left > MORE_STEP ? `Show ${MORE_STEP.toLocaleString()} more lines (${left.toLocaleString()} not shown)`
      : `Show ${left.toLocaleString()} more line${left === 1 ? '' : 's'}`;
  };
  more.addEventListener('click', () => step(MORE_STEP));
  const hit = query ? lines.findIndex((line) => line.toLowerCase().includes(query)) : -1;
  step(Math.max(FOLD_LINES, hit + 3));
  const element = collapsible('tool-result', [h('span', { class: 'label' }, `Result (${facts.join(', ')})`),
    ' ', h('span', { class: 'muted' }, lines.length
      ? `${lines.length.toLocaleString()} line${lines.length === 1 ? '' : 's'}` : 'no output')],
  lines.length ? [body, more] : [], lines.length > 0);
  if (bad) element.classList.add('is-error');
  return element;
}

function renderSystem(output) {
  if (output.subtype === 'init') {
    return block('system', 'Session started',
      output.model ? ` · model ${output.model}` : '', output.session_id ? ` · session ${output.session_id}` : '');
  }
  if (output.subtype === 'result') {
    const element = block('system', output.is_error ? 'Agent reported failure' : 'Agent finished',
      output.text ? `: ${preview(output.text)}` : '');
    if (output.is_error) element.classList.add('is-error');
    return element;
  }
  return block('system', `${output.subtype || 'system'}`, output.message ? `: ${clip(output.message, 2000)}` : '');
}

/** A system event's words, as its entry shows them. */
function systemText(output) {
  if (output.subtype === 'init') {
    return ['Session started', output.model && `model ${output.model}`, output.session_id && `session ${output.session_id}`]
      .filter(Boolean).join(' · ');
  }
  if (output.subtype === 'result') {
    return `${output.is_error ? 'Agent reported failure' : 'Agent finished'}${output.text ? `: ${output.text}` : ''}`;
  }
  return `${output.subtype || 'system'}${output.message ? `: ${output.message}` : ''}`;
}

/**
 * Gemini streams its answer in chunks (delta): glue a chunk onto the text block before it. The
 * block's markdown is drawn again by the caller (redraw()) once per batch, not once per chunk.
 */
export function mergeDelta(previous, output) {
  if (output.kind !== 'text' || !output.delta || !previous || previous.source === undefined) return false;
  if (previous.source.length > MAX_TEXT) return false;
  previous.source += output.text;
  return true;
}

/** Draw a markdown block again from its (grown) source. */
export function redraw(element) {
  element.replaceChildren(markdown(element.source));
}

// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** The event's words as plain text (no colour codes): what search matches and what copy writes. */
export function eventText(output) {
  const text = (() => {
    switch (output.kind) {
      case 'text': case 'thinking': return output.text ?? '';
      case 'tool_use': return `${output.name || '?'} ${JSON.stringify(output.input ?? '')}`;
      case 'tool_result': return resultText(output.output);
      case 'usage': return `${output.input_tokens ?? '?'} tokens in, ${output.output_tokens ?? '?'} out`;
      case 'error': return output.message ?? '';
      case 'raw': return output.line ?? '';
      case 'system': return systemText(output);
      case 'check': return `${output.argv.join(' ')}${output.started ? '' : ` ${checkVerdict(output)}\n${output.output}`}`;
      default: return JSON.stringify(output);
    }
  })();
  return String(text).replace(ESCAPES, '');
}

const LABELS = { text: '', thinking: 'thinking: ', tool_use: 'tool call: ', tool_result: 'result: ', usage: 'usage: ',
  error: 'error: ', raw: 'raw: ', check: 'check: ' };

/** The whole log as text for a person: one "[time] kind: words" entry per event (chunks glued). */
export function logText(events) {
  const entries = [];
  let previous = null;
  for (const event of events) {
    const output = event.output || {};
    if (output.kind === 'text' && output.delta && previous?.kind === 'text') {
      entries[entries.length - 1] += eventText(output);
      continue;
    }
    previous = output;
    const when = typeof event.ts === 'number' ? `[${stamp(event.ts).short}] ` : '';
    const label = LABELS[output.kind] ?? `${output.kind || 'event'}: `;
    entries.push(`${when}${label}${eventText(output)}`);
  }
  return `${entries.join('\n')}\n`;
}
