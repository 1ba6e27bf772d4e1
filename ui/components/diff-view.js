// The diff of an execution's git checkpoint, for reading: its branch, base and commit, a file list
// with +/- counts beside the diffs, and one collapsed section per file whose lines are drawn only when
// it is first opened (a few thousand at a time), so a very long diff costs nothing until it is read.
// Each file reads unified or side by side (a toggle, remembered in localStorage), its code coloured by
// the highlighter the log uses for code blocks, chosen by the file's extension.

import { h } from '../dom.js';
import { highlightLine, languageOfPath } from '../markdown.js';

const LINES_PER_STEP = 2000;
const KEY_MODE = 'orchestra.diffMode';
const MODES = { unified: 'Unified', split: 'Side by side' };

function diffMode() {
  try {
    const mode = localStorage.getItem(KEY_MODE);
    return mode in MODES ? mode : 'unified';
  } catch {
    return 'unified';
  }
}

function rememberMode(mode) {
  try {
    localStorage.setItem(KEY_MODE, mode);
  } catch {
    // private mode: the choice lasts for this page only
  }
}

/** The diff text cut into one section per file ("diff --git …" up to the next one). */
export function splitDiff(text) {
  const sections = [];
  let current = null;
  const lines = String(text ?? '').split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    if (line.startsWith('diff --git ')) {
      current = { path: pathOf(line), lines: [line] };
      sections.push(current);
    } else if (current) {
      current.lines.push(line);
      if (line.startsWith('+++ b/')) current.path = line.slice(6);
      else if (line.startsWith('--- a/') && current.lines.length < 8) current.path ||= line.slice(6);
    }
  }
  return sections;
}

function pathOf(header) {
  const match = /^diff --git a\/(.*) b\/(.*)$/.exec(header);
  return match ? match[2] : header.slice('diff --git '.length);
}

function lineClass(line) {
  if (line.startsWith('+++') || line.startsWith('---')) return 'meta';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  if (line.startsWith('@@')) return 'hunk';
  if (line.startsWith(' ') || line === '') return 'ctx';
  return 'meta';
}

function counts(file) {
  if (!file) return null;
  if (file.added === null || file.removed === null) return h('span', { class: 'diff-counts muted' }, 'binary');
  return h('span', { class: 'diff-counts' },
    h('span', { class: 'added', 'aria-label': `${file.added} added` }, `+${file.added}`), ' ',
    h('span', { class: 'removed', 'aria-label': `${file.removed} removed` }, `−${file.removed}`));
}

/** A code span: the text coloured for `language`, or plain. */
function code(text, language) {
  const span = h('span', { class: 'code' });
  const html = text && highlightLine(text, language);
  if (html === null || html === undefined || html === '') span.textContent = text || ' ';
  else span.innerHTML = html; // highlight.js escapes the text itself; only its own spans are added
  return span;
}

/** One unified line: its sign, then its code (coloured when it is a line of the file). */
function unifiedLine(line, language) {
  const kind = lineClass(line);
  if (kind === 'meta' || kind === 'hunk') return h('span', { class: `dl ${kind}` }, line === '' ? ' ' : line);
  return h('span', { class: `dl ${kind}` }, h('span', { class: 'sign', 'aria-hidden': 'true' }, line[0] || ' '),
    code(line.slice(1), language));
}

/**
 * The lines as side-by-side rows: context on both sides, a run of removals paired with the additions
 * that follow it, hunk and header lines across both; each side keeps its own line numbers.
 */
export function splitRows(lines) {
  const rows = [];
  let oldNo = 0;
  let newNo = 0;
  let removed = [];
  let added = [];
  const flush = () => {
    for (let i = 0; i < Math.max(removed.length, added.length); i += 1) {
      rows.push({ left: removed[i] ?? null, right: added[i] ?? null });
    }
    removed = [];
    added = [];
  };
  for (const line of lines) {
    const kind = lineClass(line);
    if (kind === 'del') {
      if (added.length) flush();
      oldNo += 1;
      removed.push({ n: oldNo, kind, text: line.slice(1) });
    } else if (kind === 'add') {
      newNo += 1;
      added.push({ n: newNo, kind, text: line.slice(1) });
    } else {
      flush();
      if (kind === 'ctx') {
        oldNo += 1;
        newNo += 1;
        rows.push({ left: { n: oldNo, kind, text: line.slice(1) }, right: { n: newNo, kind, text: line.slice(1) } });
      } else {
        const hunk = kind === 'hunk' && /^@@ -(\d+)(?:,\d+)? \+(\d+)/.exec(line);
        if (hunk) {
          oldNo = Number(hunk[1]) - 1;
          newNo = Number(hunk[2]) - 1;
        }
        rows.push({ whole: line, kind });
      }
    }
  }
  flush();
  return rows;
}

function splitCell(side, language) {
  if (!side) return h('span', { class: 'sd empty' }, ' ');
  return h('span', { class: `sd ${side.kind}`, dataset: { n: side.n } }, code(side.text, language));
}

function splitRow(row, language) {
  if (row.whole !== undefined) return h('span', { class: `dr whole ${row.kind}` }, row.whole || ' ');
  return h('span', { class: 'dr' }, splitCell(row.left, language), splitCell(row.right, language));
}

/** One file's section: closed, its lines drawn on the first opening (again when the mode changes). */
function fileSection(path, file, lines, mode) {
  const language = languageOfPath(path);
  const section = h('details', { class: 'diff-file', dataset: { path } },
    h('summary', {}, h('code', { class: 'diff-path' }, path), ' ', counts(file)));
  let items = null;
  let drawn = 0;
  let body = null;
  let more = null;
  const step = () => {
    const end = Math.min(items.length, drawn + LINES_PER_STEP);
    const fragment = document.createDocumentFragment();
    const draw = mode.value === 'split' ? splitRow : unifiedLine;
    for (let i = drawn; i < end; i += 1) fragment.append(draw(items[i], language));
    body.append(fragment);
    drawn = end;
    more.hidden = drawn >= items.length;
    more.textContent = `Show ${Math.min(LINES_PER_STEP, items.length - drawn).toLocaleString()} more lines `
      + `(${(items.length - drawn).toLocaleString()} not shown)`;
  };
  const open = () => {
    body?.remove();
    more?.remove();
    items = mode.value === 'split' ? splitRows(lines) : lines;
    drawn = 0;
    body = h('pre', { class: `diff-body ${mode.value}`, 'aria-label': `Diff of ${path}`, tabindex: '0',
      dataset: { language: language || '' } });
    more = h('button', { type: 'button', class: 'link', 'data-action': 'diff-more', onclick: step });
    section.append(body, more);
    step();
  };
  section.addEventListener('toggle', () => {
    if (section.open && (!body || body.dataset.mode !== mode.value)) {
      open();
      body.dataset.mode = mode.value;
    }
  });
  section.redraw = () => {
    if (body && section.open) {
      open();
      body.dataset.mode = mode.value;
    } else if (body) {
      body.dataset.mode = ''; // drawn again on the next opening
    }
  };
  return section;
}

function modeToggle(mode, onChange) {
  const buttons = Object.entries(MODES).map(([value, label]) => h('button', {
    type: 'button', class: 'chip', dataset: { diffMode: value }, 'aria-pressed': String(mode.value === value),
    onclick: () => {
      if (mode.value === value) return;
      mode.value = value;
      rememberMode(value);
      for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.diffMode === value));
      onChange();
    },
  }, label));
  return h('span', { class: 'diff-mode', role: 'group', 'aria-label': 'Diff layout' }, buttons);
}

/** The file list: each entry opens its file's section and brings it into view. */
function fileIndex(entries) {
  return h('nav', { class: 'diff-index', 'aria-label': 'Changed files' }, h('ul', {}, entries.map(({ path, file, section }) =>
    h('li', {}, h('button', {
      type: 'button', class: 'link diff-index-entry', title: path, dataset: { path },
      onclick: () => {
        section.open = true;
        section.scrollIntoView({ block: 'start' });
        section.querySelector('summary')?.focus();
      },
    }, h('span', { class: 'diff-path' }, path), ' ', counts(file))))));
}

/** The whole view of GET /executions/{id}/diff's answer. */
export function diffView(diff) {
  const files = diff.files || [];
  const sections = splitDiff(diff.diff);
  const byPath = new Map(files.map((f) => [f.path, f]));
  const paired = sections.length === files.length;
  const added = files.reduce((sum, f) => sum + (f.added ?? 0), 0);
  const removed = files.reduce((sum, f) => sum + (f.removed ?? 0), 0);
  const mode = { value: diffMode() };
  const entries = sections.map((section, i) => {
    const file = paired ? files[i] : byPath.get(section.path);
    const path = paired ? file.path : section.path;
    return { path, file, section: fileSection(path, file, section.lines, mode) };
  });
  const short = (sha) => (sha ? h('code', { title: sha }, sha.slice(0, 12)) : '–');
  const fact = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
  return [
    h('dl', { class: 'facts diff-facts' },
      fact('Branch', diff.branch ? h('code', {}, diff.branch) : '–'),
      fact('Base', short(diff.base_commit)),
      fact('Commit', short(diff.commit))),
    files.length
      ? h('p', { class: 'diff-total' }, `${files.length} file${files.length === 1 ? '' : 's'} changed, `,
        counts({ added, removed }), ' ', modeToggle(mode, () => entries.forEach((e) => e.section.redraw())))
      : h('p', { class: 'muted' }, 'No change: the agent left the files as they were.'),
    entries.length
      ? h('div', { class: 'diff-layout' }, fileIndex(entries),
        h('div', { class: 'diff-files' }, entries.map((e) => e.section)))
      : null,
  ];
}
