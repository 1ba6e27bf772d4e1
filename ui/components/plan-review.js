// A plan node waiting for its review (review_plan): the task list its agent answered, as JSON a person
// may edit before approving it. Approving sends the edited list only when it was changed.

import { h } from '../dom.js';
import { EXECUTION_STATUS, NODE_KIND } from '../statuses.js';

/** The answer's JSON object: the whole text, else its last ```json block, else its outermost braces
 * (the hub reads an answer the same way, orchestra/plans.py). */
function taskList(answer) {
  const text = String(answer ?? '');
  const fenced = [...text.matchAll(/```(?:json)?\s*\n([\s\S]*?)```/g)].map((m) => m[1]).reverse();
  const braces = text.includes('{') ? [text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)] : [];
  for (const candidate of [text, ...fenced, ...braces]) {
    try {
      return JSON.parse(candidate);
    } catch {
      // the next form
    }
  }
  return null;
}

/** {element, edited()} for waiting review `review`; edited() is the changed task list, null when unchanged,
 * and throws when the text is not JSON. */
export function planReview(client, review) {
  const area = h('textarea', { name: 'plan', rows: 10, class: 'mono', 'aria-label': 'Task list (JSON)',
    spellcheck: false, placeholder: 'Loading the task list…' });
  let original = '';
  client.executions({ run_id: review.run_id, node_id: review.node_id, limit: 50 }).then(({ executions }) => {
    const answer = executions.find((e) => e.agent !== NODE_KIND.GATE && e.status === EXECUTION_STATUS.SUCCEEDED)?.result_text;
    const plan = taskList(answer);
    original = plan ? JSON.stringify(plan, null, 2) : String(answer ?? '');
    if (!area.value) area.value = original;
  }, (failure) => { area.placeholder = `Could not load the task list: ${failure.message}`; });
  return {
    element: h('label', {}, 'Task list — edit it before approving, or approve it as it is', area),
    edited() {
      if (area.value === original) return null;
      try {
        return JSON.parse(area.value);
      } catch (failure) {
        throw new Error(`The task list is not JSON: ${failure.message}`);
      }
    },
  };
}
