// The unified diff of an execution's git checkpoint, for reading: its branch, base and commit, the
// per-file +/- summary, and one collapsed section per file whose lines are drawn only when it is
// first opened (a few thousand at a time), so a very long diff costs nothing until it is read.

import { h } from '../dom.js';

const LINES_PER_STEP = 2000;

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

/** One file's section: closed, its lines drawn on the first opening. */
function fileSection(path, file, lines) {
  const section = h('details', { class: 'diff-file', dataset: { path } },
    h('summary', {}, h('code', { class: 'diff-path' }, path), ' ', counts(file)));
  let drawn = 0;
  let body = null;
  let more = null;
  const step = () => {
    const end = Math.min(lines.length, drawn + LINES_PER_STEP);
    const fragment = document.createDocumentFragment();
    for (let i = drawn; i < end; i += 1) {
      const line = lines[i];
      fragment.append(h('span', { class: `dl ${lineClass(line)}` }, line === '' ? ' ' : line));
    }
    body.append(fragment);
    drawn = end;
    more.hidden = drawn >= lines.length;
    more.textContent = `Show ${Math.min(LINES_PER_STEP, lines.length - drawn).toLocaleString()} more lines `
      + `(${(lines.length - drawn).toLocaleString()} not shown)`;
  };
  section.addEventListener('toggle', () => {
    if (!section.open || body) return;
    body = h('pre', { class: 'diff-body', 'aria-label': `Diff of ${path}` });
    more = h('button', { type: 'button', class: 'link', 'data-action': 'diff-more', onclick: step });
    section.append(body, more);
    step();
  });
  return section;
}

/** The whole view of GET /executions/{id}/diff's answer. */
export function diffView(diff) {
  const files = diff.files || [];
  const sections = splitDiff(diff.diff);
  const byPath = new Map(files.map((f) => [f.path, f]));
  const paired = sections.length === files.length;
  const added = files.reduce((sum, f) => sum + (f.added ?? 0), 0);
  const removed = files.reduce((sum, f) => sum + (f.removed ?? 0), 0);
  const short = (sha) => (sha ? h('code', { title: sha }, sha.slice(0, 12)) : '–');
  const fact = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
  return [
    h('dl', { class: 'facts diff-facts' },
      fact('Branch', diff.branch ? h('code', {}, diff.branch) : '–'),
      fact('Base', short(diff.base_commit)),
      fact('Commit', short(diff.commit))),
    files.length
      ? h('p', { class: 'diff-total' }, `${files.length} file${files.length === 1 ? '' : 's'} changed, `,
        counts({ added, removed }))
      : h('p', { class: 'muted' }, 'No change: the agent left the files as they were.'),
    h('div', { class: 'diff-files' }, sections.map((section, i) => {
      const file = paired ? files[i] : byPath.get(section.path);
      return fileSection(paired ? file.path : section.path, file, section.lines);
    })),
  ];
}
