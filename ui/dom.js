// Tiny DOM helpers. Text always goes in as text nodes: agent output is untrusted and never parsed as HTML.

/** h('div', {class: 'x', onclick: fn, dataset: {id: 1}}, 'text', child, [more]) -> HTMLElement */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'class') el.className = value;
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace every child of `el` with `children`. */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A button that disables itself while its async handler runs (no double submits). */
export function actionButton(label, handler, attrs = {}) {
  const button = h('button', { type: 'button', ...attrs }, label);
  button.addEventListener('click', async (event) => {
    if (button.disabled) return;
    button.disabled = true;
    try {
      await handler(event);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/**
 * A delete button that asks for a second click instead of a blocking confirm():
 * the first click arms it for a few seconds, the second one runs the handler.
 */
export function confirmButton(label, confirmLabel, handler, attrs = {}) {
  let armed = null;
  const button = actionButton(label, async (event) => {
    if (!armed) {
      button.textContent = confirmLabel;
      button.classList.add('armed');
      armed = setTimeout(() => { armed = null; button.textContent = label; button.classList.remove('armed'); }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.textContent = label;
    button.classList.remove('armed');
    await handler(event);
  }, attrs);
  return button;
}
