// A best-of-N node waiting for a person's pick: its candidates (status, agent, result, diff), each one
// that succeeded with a "Pick" button. A compact list sits in the execution panel; "Compare side by
// side" opens the candidates as columns across the window, their diffs drawn by diff-view.js.

import { ansi, stripAnsi } from '../ansi.js';
import { actionButton, h, render } from '../dom.js';
import { clip, statusLabel } from '../format.js';
import { EXECUTION_STATUS } from '../statuses.js';
import { diffView } from './diff-view.js';

const OPEN_FILES = 5; // a candidate's diff of at most this many files opens at once
const label = (c) => `Candidate ${c.candidate} · ${c.agent}`;

/** The pick box of waiting execution `pick`; `choose(candidateId)` approves it (and throws the hub's refusal). */
export function candidatePick(client, pick, choose) {
  const box = h('div', { class: 'candidate-pick' }, h('p', { class: 'muted' }, 'Loading the candidates…'));
  const error = h('p', { class: 'form-error', role: 'alert' });
  const pickButton = (c, after) => (c.status === EXECUTION_STATUS.SUCCEEDED
    ? actionButton('✓ Pick', async () => {
      error.textContent = '';
      try {
        await choose(c.id);
        after?.();
      } catch (failure) {
        error.textContent = failure.message;
      }
    }, { class: 'primary', 'data-action': 'pick', dataset: { candidate: c.id } }) : null);
  client.executions({ run_id: pick.run_id, node_id: pick.node_id, limit: 50 }).then(({ executions }) => {
    const candidates = executions.filter((e) => e.candidate).sort((a, b) => a.candidate - b.candidate);
    const dialog = h('dialog', { class: 'candidate-compare', 'aria-label': 'Candidates side by side' });
    const compare = () => {
      const columns = candidates.map((c) => {
        const changes = h('div', { class: 'changes' }, h('p', { class: 'muted' }, c.commit_sha ? 'Loading the diff…' : 'No git checkpoint.'));
        if (c.commit_sha) {
          client.diff(c.id).then((diff) => {
            render(changes, diffView(diff));
            const files = changes.querySelectorAll('details.diff-file');
            if (files.length <= OPEN_FILES) files.forEach((file) => { file.open = true; }); // side by side, at once
          },
            (failure) => render(changes, h('p', { class: 'form-error' }, `Could not load the diff: ${failure.message}`)));
        }
        return h('section', { class: 'compare-column', dataset: { candidate: c.id } },
          h('h4', {}, label(c), ' ', h('span', { class: `badge status-${c.status}` }, statusLabel(c.status))),
          // a plain-text agent's answer keeps its colours, drawn (never raw escape codes)
          c.result_text ? h('pre', { class: 'candidate-result' }, ansi(clip(c.result_text, 4000))) : null,
          c.error ? h('p', { class: 'exec-error' }, stripAnsi(c.error)) : null,
          changes, pickButton(c, () => dialog.close()));
      });
      render(dialog, h('div', { class: 'compare-head' }, h('h3', {}, 'Candidates side by side'),
        h('button', { type: 'button', 'data-action': 'close-compare', onclick: () => dialog.close() }, 'Close')),
      h('div', { class: 'compare-columns' }, columns));
      dialog.showModal();
    };
    render(box,
      h('ul', { class: 'candidate-list' }, candidates.map((c) => h('li', { dataset: { candidate: c.id } },
        h('span', { class: `badge status-${c.status}` }, statusLabel(c.status)), ' ', label(c),
        c.result_text ? h('span', { class: 'muted candidate-preview' }, ` · ${stripAnsi(c.result_text)}`) : null,
        pickButton(c)))),
      error,
      h('button', { type: 'button', 'data-action': 'compare', onclick: compare }, '⇆ Compare side by side'),
      dialog);
  }, (failure) => render(box, h('p', { class: 'form-error' }, `Could not load the candidates: ${failure.message}`)));
  return box;
}
