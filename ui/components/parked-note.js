// A parked execution: its agent's CLI hit a usage or rate limit, and the hub resumes it at resume_at
// (orchestra/runtime/parking.py). The note says until when, counts down with the page clock, and
// offers "Resume now" (POST /executions/{id}/resume) for a limit that lifted sooner.

import { actionButton, h } from '../dom.js';
import { countdown } from '../clock.js';
import { time } from '../format.js';
import { EXECUTION_STATUS } from '../statuses.js';

/** The note for `execution` when it is parked, else null. `actions` resumes it; `online` enables the button. */
export function parkedNote(execution, actions, online) {
  if (execution?.status !== EXECUTION_STATUS.PARKED || !execution.resume_at) return null;
  return h('div', { class: 'parked-note', 'data-role': 'parked-note' },
    h('p', {}, 'Parked at a usage limit until ',
      h('strong', { title: time(execution.resume_at, true) }, time(execution.resume_at)),
      ' · resumes in ', countdown(execution.resume_at), ' ',
      actionButton('▶ Resume now', () => actions.resumeExecution(execution.id).catch(() => {}),
        { class: 'small', 'data-action': 'resume-execution', disabled: !online })),
    execution.error ? h('p', { class: 'parked-reason' }, execution.error) : null);
}
