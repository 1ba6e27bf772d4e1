// The node editor's "Checks, candidates and plans" fields: a check (one argument per line) with its
// timeout and repair turns, best-of-N candidates (a count, or agent template ids), and a plan node's
// limits and review, and where it may run on a Ray cluster (placement). Empty means unset; the hub
// checks the values and its refusal is shown as is.

import { h } from '../dom.js';
import { NODE_KIND } from '../statuses.js';

const number = (input) => (input.value === '' ? null : Number(input.value));

/** "claude=1, gpu=0.5" as {claude: 1, gpu: 0.5}; a piece without "=" is sent as is for the hub to refuse. */
function resources(text) {
  const pieces = text.split(/[\s,]+/).filter(Boolean);
  if (!pieces.length) return null;
  return Object.fromEntries(pieces.map((piece) => {
    const [name, amount] = piece.split('=');
    return [name, amount === undefined || amount === '' || Number.isNaN(Number(amount)) ? amount ?? null : Number(amount)];
  }));
}

/** {element, value(kind), keys}: value() is the fields for the hub (null for an unset one). */
export function nodeExtras(node, kindSelect) {
  const check = h('textarea', { name: 'check', rows: 2, placeholder: 'e.g.\npytest\n-q' },
    (node?.check ?? []).join('\n'));
  const checkTimeout = h('input', { name: 'check_timeout_s', type: 'number', min: 1, step: 'any',
    value: node?.check_timeout_s ?? '', placeholder: '600' });
  const repairs = h('input', { name: 'max_repairs', type: 'number', min: 0, max: 10, value: node?.max_repairs ?? 0 });
  const candidates = h('input', { name: 'candidates', placeholder: 'none — or 3, or claude-code, codex',
    value: Array.isArray(node?.candidates) ? node.candidates.join(', ') : node?.candidates ?? '' });
  const maxTasks = h('input', { name: 'max_tasks', type: 'number', min: 1, max: 50, value: node?.max_tasks ?? '',
    placeholder: '10' });
  const maxDepth = h('input', { name: 'max_depth', type: 'number', min: 1, max: 20, value: node?.max_depth ?? '',
    placeholder: '4' });
  const review = h('input', { name: 'review_plan', type: 'checkbox', checked: Boolean(node?.review_plan) });
  const placement = h('input', { name: 'placement', placeholder: 'none — or claude=1, gpu=0.5',
    value: Object.entries(node?.placement ?? {}).map(([name, amount]) => `${name}=${amount}`).join(', ') });
  const planFields = h('div', { class: 'grid3 plan-fields' }, h('label', {}, 'Max tasks', maxTasks),
    h('label', {}, 'Max depth', maxDepth), h('label', { class: 'check' }, review, 'Review the plan first'));
  const showPlan = () => { planFields.hidden = kindSelect.value !== NODE_KIND.PLAN; };
  kindSelect.addEventListener('change', showPlan);
  showPlan();
  const open = Boolean(node?.check || node?.candidates || node?.kind === NODE_KIND.PLAN);
  const element = h('details', { class: 'node-extras', open },
    h('summary', {}, 'Check, candidates, plan'),
    h('label', {}, 'Check — a command run after the agent, one argument per line; the node succeeds when it exits 0',
      check),
    h('div', { class: 'grid3' }, h('label', {}, 'Check timeout (s)', checkTimeout),
      h('label', {}, 'Repair turns', repairs), h('span', {})),
    h('label', {}, 'Candidates — run side by side, keep the best', candidates),
    planFields,
    h('label', {}, 'Placement — Ray resources a worker must offer (with ORCHESTRA_EXECUTOR=ray)', placement));
  const value = (kind) => {
    const argv = check.value.split('\n').map((line) => line.trim()).filter(Boolean);
    const text = candidates.value.trim();
    const plan = kind === NODE_KIND.PLAN;
    return {
      check: argv.length ? argv : null,
      check_timeout_s: number(checkTimeout),
      max_repairs: number(repairs) ?? 0,
      candidates: text === '' ? null : /^\d+$/.test(text) ? Number(text) : text.split(/[\s,]+/).filter(Boolean),
      max_tasks: plan ? number(maxTasks) : null,
      max_depth: plan ? number(maxDepth) : null,
      review_plan: plan && review.checked,
      placement: resources(placement.value),
    };
  };
  return { element, value, keys: ['check', 'check_timeout_s', 'candidates', 'max_tasks', 'max_depth', 'placement'] };
}
