// Keyboard shortcuts: one table, read by the key handler and by the help overlay (so the list the
// user sees is the list that works). A shortcut that stands for a toolbar button clicks that button,
// so a disabled action stays disabled. Keys typed into a field are the field's, except Escape.

import { maximise } from './components/reading-room.js';

const button = (action) => () => document.querySelector(`orc-dag-view [data-action="${action}"]`)?.click();

export const SHORTCUTS = [
  { keys: ['?'], label: 'Show the keyboard shortcuts', run: (app) => app.shell.openHelp() },
  { keys: ['Escape'], label: 'Close a dialog, menu or drawer; stop connecting nodes', run: (app) => app.shell.escape() },
  { keys: ['/'], label: 'Find a node (Enter centres it)', run: () => document.querySelector('orc-dag-view .find input')?.focus() },
  { keys: ['f'], label: 'Fit the whole graph in the view', run: button('fit') },
  { keys: ['+', '='], label: 'Zoom in', run: button('zoom-in') },
  { keys: ['-'], label: 'Zoom out', run: button('zoom-out') },
  { keys: ['n'], label: 'Add a node', run: button('add-node') },
  { keys: ['R'], shown: 'Shift+R', label: 'Run all', run: button('run-all') },
  { keys: ['F'], shown: 'Shift+F', label: 'Run the selected node and what depends on it', run: button('run-from') },
  { keys: ['X'], shown: 'Shift+X', label: 'Cancel the current run', run: button('cancel-run') },
  { keys: ['m'], label: 'Maximise the agent output (again: restore)', run: () => maximise('log') },
  { keys: ['M'], shown: 'Shift+M', label: 'Maximise the diff (again: restore)', run: () => maximise('diff') },
  { keys: ['p'], label: 'Show or hide the projects (narrow windows)', run: (app) => app.shell.toggleProjects() },
];

const byKey = new Map(SHORTCUTS.flatMap((shortcut) => shortcut.keys.map((key) => [key, shortcut])));

function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

/** Listen for the shortcuts on the whole page. */
export function installShortcuts(app) {
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.key !== 'Escape' && typing(event.target)) return;
    const shortcut = byKey.get(event.key);
    if (!shortcut) return;
    if (document.querySelector('dialog[open]')) return; // a modal dialog has the keys (Escape closes it)
    if (event.key !== 'Escape') event.preventDefault();
    shortcut.run(app);
  });
}
