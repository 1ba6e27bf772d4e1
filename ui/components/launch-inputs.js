// Launch inputs in the launch dialog (launch-dialog.js): when the prompts of the nodes a launch would
// run use {{inputs.NAME}}, every launch asks for them — one field per name, filled in with the latest
// run's values — and sends them as the launch's `inputs` (the hub refuses a launch that lacks one).

import { h } from '../dom.js';
import { registerLaunchSection } from './launch-dialog.js';

// The names the hub looks for (orchestra/prompts.py, INPUT_NAME).
const INPUT = /\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

/** The input names these prompts use, sorted. */
export function inputNames(prompts) {
  const names = new Set();
  for (const prompt of prompts) for (const match of prompt.matchAll(INPUT)) names.add(match[1]);
  return [...names].sort();
}

/** The inputs of the project's latest run that had any. */
function latestInputs(store) {
  const runs = [...store.runs.values()].filter((run) => Object.keys(run.inputs ?? {}).length)
    .sort((a, b) => b.created_at - a.created_at);
  return runs[0]?.inputs ?? {};
}

registerLaunchSection(({ app, nodes }) => {
  const names = inputNames(nodes.map((node) => node.prompt ?? ''));
  if (!names.length) return null;
  const last = latestInputs(app.store);
  const fields = names.map((name) => h('input', { value: last[name] ?? '', autocomplete: 'off',
    'aria-label': name, dataset: { input: name } }));
  const element = h('fieldset', { class: 'launch-inputs' },
    h('legend', {}, 'Launch inputs'),
    h('p', { class: 'muted' }, 'The prompts of these nodes use them.'),
    names.map((name, i) => h('label', {}, h('code', {}, `{{inputs.${name}}}`), fields[i])));
  return {
    element,
    required: true,
    options: () => ({ inputs: Object.fromEntries(fields.map((field) => [field.dataset.input, field.value])) }),
  };
});
