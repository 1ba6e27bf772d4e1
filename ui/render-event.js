// One normalized agent event (the `output` of an execution.output event) as DOM, for people:
// assistant text, thinking collapsed, tool calls and results as collapsible blocks, errors loud.
// See orchestra/agents/__init__.py for the kinds and their fields.

import { h } from './dom.js';
import { clip, cost } from './format.js';
import { EVENT_TYPE } from './statuses.js';

const PREVIEW = 120;

function preview(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? '');
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > PREVIEW ? `${line.slice(0, PREVIEW)}…` : line;
}

function pretty(value) {
  if (typeof value === 'string') return clip(value);
  try {
    return clip(JSON.stringify(value, null, 2));
  } catch {
    return clip(String(value));
  }
}

function block(kind, seq, ...children) {
  return h('div', { class: `ev ev-${kind}`, dataset: { seq } }, ...children);
}

function collapsible(kind, seq, summary, body, open = false) {
  return h('details', { class: `ev ev-${kind}`, dataset: { seq }, open },
    h('summary', {}, ...summary), h('pre', {}, body));
}

export function renderOutput(output, seq) {
  switch (output.kind) {
    case 'text':
      return block('text', seq, clip(output.text, 20000));
    case 'thinking':
      return collapsible('thinking', seq, [h('span', { class: 'label' }, 'Thinking'), ' ',
        h('span', { class: 'muted' }, preview(output.text))], clip(output.text, 20000));
    case 'tool_use':
      return collapsible('tool-use', seq, [h('span', { class: 'label' }, `Tool call: ${output.name || '?'}`), ' ',
        h('span', { class: 'muted' }, preview(output.input))], pretty(output.input));
    case 'tool_result': {
      const bad = Boolean(output.is_error) || (output.exit_code !== undefined && output.exit_code !== 0);
      const facts = [bad ? 'error' : 'ok'];
      if (output.exit_code !== undefined) facts.push(`exit ${output.exit_code}`);
      if (output.truncated) facts.push('truncated by the agent');
      const element = collapsible('tool-result', seq, [h('span', { class: 'label' }, `Result (${facts.join(', ')})`),
        ' ', h('span', { class: 'muted' }, preview(output.output))], pretty(output.output));
      if (bad) element.classList.add('is-error');
      return element;
    }
    case 'usage':
      return block('usage', seq, `Usage: ${output.input_tokens ?? '?'} tokens in, ${output.output_tokens ?? '?'} out`,
        output.cost_usd !== undefined ? ` · ${cost(output.cost_usd)}` : '');
    case 'system':
      return renderSystem(output, seq);
    case 'error':
      return block('error', seq, h('strong', {}, 'Error: '), clip(output.message, 20000));
    case 'raw':
      return block('raw', seq, h('code', {}, clip(output.line, 2000)),
        output.truncated ? h('span', { class: 'muted' }, ` (line of ${output.truncated} bytes, cut)`) : '');
    default:
      return block('raw', seq, h('code', {}, clip(JSON.stringify(output), 2000)));
  }
}

/** A check.started / check.finished event: a step of the execution, the check's output folded. */
export function renderCheck(event) {
  const { check, seq } = event;
  const command = h('code', {}, check.argv.join(' '));
  if (event.type === EVENT_TYPE.CHECK_STARTED) return block('check', seq, h('span', { class: 'label' }, 'Check '), command);
  const verdict = check.passed ? 'passed' : check.error || `failed (exit ${check.exit_code})`;
  const element = collapsible('check', seq, [h('span', { class: 'label' }, `Check ${verdict}: `), command],
    check.output || '(no output)', !check.passed);
  element.classList.add(check.passed ? 'is-ok' : 'is-error');
  return element;
}

function renderSystem(output, seq) {
  if (output.subtype === 'init') {
    return block('system', seq, 'Session started',
      output.model ? ` · model ${output.model}` : '', output.session_id ? ` · session ${output.session_id}` : '');
  }
  if (output.subtype === 'result') {
    const element = block('system', seq, output.is_error ? 'Agent reported failure' : 'Agent finished',
      output.text ? `: ${preview(output.text)}` : '');
    if (output.is_error) element.classList.add('is-error');
    return element;
  }
  return block('system', seq, `${output.subtype || 'system'}`, output.message ? `: ${clip(output.message, 2000)}` : '');
}

/** Gemini streams its answer in chunks (delta): glue a chunk onto the text block before it. */
export function mergeDelta(previous, output) {
  if (output.kind !== 'text' || !output.delta || !previous || !previous.classList.contains('ev-text')) return false;
  if (previous.textContent.length > 20000) return false;
  previous.append(output.text);
  return true;
}
