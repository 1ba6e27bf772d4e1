// Room for reading: the log and the diff can take the whole main area (body[data-maximised] = 'log' or
// 'diff'; style.css hides the rest), by a control or a key ('m' the log, 'M' the diff; Escape
// restores), and the inspector's width can be dragged (remembered in localStorage). The log's view
// options (timestamps, wrapping) are remembered too. A URL with "&view=log" or "&view=diff" opens the
// selected node's log or diff maximised, so either can live in a tab of its own.

import { h } from '../dom.js';

const KEY_WIDTH = 'orchestra.inspectorWidth';
const KEY_TIMES = 'orchestra.logTimes';
const KEY_WRAP = 'orchestra.logWrap';
const MIN_WIDTH = 280;
const VIEWS = new Set(['log', 'diff']);

function remembered(key, fallback) {
  try {
    return localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback;
  }
}

function remember(key, value) {
  try {
    localStorage.setItem(key, String(value));
  } catch {
    // private mode: the choice lasts for this page only
  }
}

/** Which pane is maximised: 'log', 'diff' or null. */
export function maximised() {
  return document.body.dataset.maximised || null;
}

/** Give `view` ('log' | 'diff') the whole main area, or (null, or the same again) put it back. */
export function maximise(view) {
  const next = view && view !== maximised() && VIEWS.has(view) ? view : null;
  if (next) document.body.dataset.maximised = next;
  else delete document.body.dataset.maximised;
  for (const button of document.querySelectorAll('[data-maximise]')) {
    const on = button.dataset.maximise === next;
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? '⤡ Restore' : '⤢ Maximise';
  }
  document.dispatchEvent(new CustomEvent('maximised', { detail: next }));
  return next;
}

/** A button that maximises (and restores) `view`. */
export function maximiseButton(view, label) {
  return h('button', { type: 'button', class: 'small maximise', 'data-maximise': view, 'aria-pressed': 'false',
    'aria-label': `${label}: maximise or restore`, title: `${label} in the whole window (${view === 'log' ? 'm' : 'Shift+M'}; Esc restores)`,
    onclick: (event) => { event.preventDefault(); event.stopPropagation(); maximise(view); } }, '⤢ Maximise');
}

/** A link that opens the selected node's `view` maximised in a new tab. */
export function ownTabLink(view, store) {
  const link = h('a', { class: 'small own-tab', target: '_blank', rel: 'noopener', title: `Open the ${view} in a new tab`,
    'data-action': `${view}-tab` }, '↗ Tab');
  link.addEventListener('click', () => {
    link.href = `${location.pathname}#project=${encodeURIComponent(store.projectId || '')}`
      + `&node=${encodeURIComponent(store.selectedNode || '')}&view=${view}`;
  });
  return link;
}

function toggle(label, key, fallback, apply, title) {
  let on = remembered(key, fallback) === 'true';
  const button = h('button', { type: 'button', class: 'small', 'aria-pressed': String(on), title,
    'data-action': `log-${label.toLowerCase()}` }, label);
  button.addEventListener('click', () => {
    on = !on;
    remember(key, on);
    button.setAttribute('aria-pressed', String(on));
    apply(on);
  });
  apply(on);
  return button;
}

/** The log toolbar's view controls: timestamps, wrapping, maximise. */
export function logViewControls(log, store) {
  return [
    toggle('Times', KEY_TIMES, 'false', (on) => log.classList.toggle('show-times', on), 'Show each entry\'s time'),
    toggle('Wrap', KEY_WRAP, 'true', (on) => log.classList.toggle('nowrap', !on), 'Wrap long lines'),
    maximiseButton('log', 'The agent output'),
    store ? ownTabLink('log', store) : null,
  ];
}

/** The inspector's left edge drags its width; the width is remembered. */
export function installInspectorResizer(layout, inspector) {
  const saved = Number(remembered(KEY_WIDTH, '0'));
  if (saved >= MIN_WIDTH) layout.style.setProperty('--inspector-w', `${saved}px`);
  const handle = h('div', { class: 'inspector-resizer', role: 'separator', 'aria-orientation': 'vertical',
    'aria-label': 'Resize the inspector (arrow keys)', tabindex: '0', title: 'Drag to resize the inspector',
    'aria-valuemin': String(MIN_WIDTH), 'aria-valuemax': '4000', 'aria-valuenow': String(saved || 460) });
  requestAnimationFrame(() => handle.setAttribute('aria-valuenow', String(Math.round(inspector.clientWidth))));
  const set = (width) => {
    const max = Math.max(MIN_WIDTH, layout.clientWidth - 320);
    const clamped = Math.round(Math.min(max, Math.max(MIN_WIDTH, width)));
    layout.style.setProperty('--inspector-w', `${clamped}px`);
    handle.setAttribute('aria-valuenow', String(clamped));
    remember(KEY_WIDTH, clamped);
    window.dispatchEvent(new Event('resize')); // the canvas redraws for its new size
  };
  handle.addEventListener('pointerdown', (event) => {
    event.preventDefault();
    handle.setPointerCapture(event.pointerId);
    const right = layout.getBoundingClientRect().right;
    const move = (e) => set(right - e.clientX);
    const up = () => { handle.removeEventListener('pointermove', move); handle.removeEventListener('pointerup', up); };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
  });
  handle.addEventListener('keydown', (event) => {
    const step = event.key === 'ArrowLeft' ? 40 : event.key === 'ArrowRight' ? -40 : 0;
    if (!step) return;
    event.preventDefault();
    set(inspector.getBoundingClientRect().width + step);
  });
  inspector.append(handle);
  return handle;
}

/** "&view=log|diff" in the URL: maximise that view once the node's execution is shown. */
export function viewFromFragment() {
  const view = new URLSearchParams(location.hash.replace(/^#/, '')).get('view');
  return VIEWS.has(view) ? view : null;
}
