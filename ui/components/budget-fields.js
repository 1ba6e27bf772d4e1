// Budget inputs shared by the node editor (per node) and the launch dialog (per run): cost in USD,
// tokens, wall time. Empty means no limit; the hub checks the numbers and its refusal is shown as is.

import { h } from '../dom.js';

const FIELDS = [
  ['cost_usd', 'Cost (USD)', 'any'],
  ['tokens', 'Tokens', '1'],
  ['wall_s', 'Wall time (s)', 'any'],
];

/** {element, value()}: value() is the budget object the hub takes, null when every field is empty; it
 * throws when a field holds text the browser cannot read as a number. */
export function budgetFields(legend, budget = null, note = '') {
  const inputs = FIELDS.map(([name, label, step]) => [name, h('input', {
    name: `budget.${name}`, type: 'number', step, value: budget?.[name] ?? '', placeholder: 'no limit',
    'aria-label': `${legend}: ${label}` })]);
  const element = h('fieldset', { class: 'budget' }, h('legend', {}, legend),
    note ? h('p', { class: 'muted budget-note' }, note) : null,
    h('div', { class: 'grid3' }, inputs.map(([name, input], i) => h('label', {}, FIELDS[i][1], input))));
  const value = () => {
    const bad = inputs.findIndex(([, input]) => input.validity.badInput);
    if (bad >= 0) throw new Error(`${legend}: ${FIELDS[bad][1]} is not a number`);
    const entries = inputs.filter(([, input]) => input.value !== '').map(([name, input]) => [name, Number(input.value)]);
    return entries.length ? Object.fromEntries(entries) : null;
  };
  return { element, value };
}
