// <orc-launch-inputs>: a small modal form for the values of a launch's {{inputs.NAME}} placeholders,
// shown before a launch whose prompts use some. askLaunchInputs() opens it and resolves to
// {NAME: value}, or null when the user cancels (Escape, Cancel).

import { h, render } from '../dom.js';

// The same names the hub looks for (orchestra/prompts.py, INPUT_NAME).
const INPUT = /\{\{\s*inputs\.([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

/** The input names these prompts use, sorted. */
export function inputNames(prompts) {
  const names = new Set();
  for (const prompt of prompts) for (const match of prompt.matchAll(INPUT)) names.add(match[1]);
  return [...names].sort();
}

class LaunchInputs extends HTMLElement {
  /** Ask for `names`, prefilled from `values`; `what` says what is launched. */
  ask(names, values, what) {
    return new Promise((resolve) => {
      const fields = names.map((name) => h('input', { name, value: values[name] ?? '', autocomplete: 'off',
        'aria-label': name }));
      const dialog = h('dialog', { class: 'launch-inputs', 'aria-labelledby': 'launch-inputs-title' });
      const finish = (result) => {
        dialog.close();
        this.remove();
        resolve(result);
      };
      const submit = (event) => {
        event.preventDefault();
        finish(Object.fromEntries(fields.map((field) => [field.name, field.value])));
      };
      render(dialog, h('form', { class: 'stack', method: 'dialog', onsubmit: submit },
        h('h2', { id: 'launch-inputs-title' }, 'Launch inputs'),
        h('p', { class: 'muted' }, `${what}: its prompts use these inputs.`),
        names.map((name, i) => h('label', {}, h('code', {}, `{{inputs.${name}}}`), fields[i])),
        h('div', { class: 'row' },
          h('button', { type: 'submit', class: 'primary', 'data-action': 'launch-with-inputs' }, '▶ Launch'),
          h('button', { type: 'button', onclick: () => finish(null) }, 'Cancel'))));
      dialog.addEventListener('cancel', (event) => { event.preventDefault(); finish(null); });
      render(this, dialog);
      dialog.showModal();
      fields[0]?.focus();
    });
  }
}

customElements.define('orc-launch-inputs', LaunchInputs);

/** Open the form in the page; resolves to the values, or null when cancelled. */
export function askLaunchInputs(names, values, what) {
  const form = document.createElement('orc-launch-inputs');
  document.body.append(form);
  return form.ask(names, values, what);
}
