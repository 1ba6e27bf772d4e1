// <orc-attention-view>: what waits for a person across every project (GET /attention), opened from the top
// bar, whose button carries the count. Each item is answered in place: a gate approved or rejected with a
// comment, a best-of-N pick chosen (candidate-pick.js), a plan's task list edited and approved
// (plan-review.js), a parked execution resumed now, a failed run opened or dismissed (marked seen).
// The list follows the hub feed (attention.changed, run.finished: state.js emits 'attention-changed').
// A browser notification is raised when an item enters the list, once the person allowed it from the
// visible "Desktop notifications" control (asked once; the answer is the browser's to keep).

import { actionButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';
import { ago } from '../format.js';
import { ATTENTION_KIND } from '../statuses.js';
import { candidatePick } from './candidate-pick.js';
import { planReview } from './plan-review.js';

const LABEL = {
  [ATTENTION_KIND.GATE]: 'Gate', [ATTENTION_KIND.PICK]: 'Pick', [ATTENTION_KIND.PLAN_REVIEW]: 'Plan review',
  [ATTENTION_KIND.PARKED]: 'Parked', [ATTENTION_KIND.FAILED_RUN]: 'Failed run',
};
const REFRESH_DELAY_MS = 150; // a burst of feed events is one fetch

const keyOf = (item) => `${item.kind}:${item.execution_id || ''}:${item.run_id}`;

class AttentionView extends AppElement {
  attach() {
    if (!this.dialog) {
      this.items = [];
      this.known = null; // keys seen so far (null: the first load raises no notification)
      this.count = h('span', { class: 'attention-count', 'aria-label': 'items waiting' }, '0');
      this.opener = h('button', { type: 'button', class: 'topbar-button', 'data-action': 'attention',
        'aria-haspopup': 'dialog', onclick: () => this.open() }, 'Attention ', this.count);
      this.list = h('ul', { class: 'attention-list', 'aria-label': 'Waiting for you' });
      this.status = h('p', { class: 'muted', role: 'status' });
      this.permission = h('span', { class: 'attention-permission' });
      this.dialog = h('dialog', { class: 'attention-dialog', 'aria-labelledby': 'attention-title' },
        h('div', { class: 'attention-head' },
          h('h2', { id: 'attention-title' }, 'Waiting for you'),
          h('span', { class: 'muted' }, 'Every project: gates, picks, plan reviews, parked agents, failed runs.'),
          h('span', { class: 'spacer' }), this.permission,
          h('button', { type: 'button', 'data-action': 'close-attention', onclick: () => this.dialog.close() }, 'Close')),
        this.status, this.list);
      render(this, this.opener, this.dialog);
      // A notification's link names the execution waiting (#project=…&execution=…): open the view on it.
      this.openOnLoad = new URLSearchParams(location.hash.replace(/^#/, '')).has('execution');
    }
    this.listen('attention-changed', () => this.refreshSoon());
    this.listen('connection', () => { if (this.store.connection.state === 'online') this.refreshSoon(); });
    this.listen('hub', () => { this.known = null; this.refreshSoon(); });
    this.renderPermission();
    this.refreshSoon();
  }

  open() {
    if (!this.dialog.open) this.dialog.showModal();
    this.refresh();
  }

  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), REFRESH_DELAY_MS);
  }

  async refresh() {
    const client = this.app.client;
    if (!client) return;
    try {
      const { items } = await client.get('/attention');
      if (client !== this.app.client) return;
      this.notifyNew(items);
      this.items = items;
      this.status.textContent = items.length ? '' : 'Nothing waits for you.';
      if (this.openOnLoad) {
        this.openOnLoad = false;
        if (!this.dialog.open) this.dialog.showModal();
      }
    } catch (failure) {
      this.status.textContent = `Could not load the list: ${failure.message}`;
    }
    this.update();
  }

  update() {
    this.count.textContent = String(this.items.length);
    this.opener.classList.toggle('has-items', this.items.length > 0);
    this.opener.title = `${this.items.length} item(s) waiting for you`;
    // Items being answered keep their form (typed comments, an edited plan): only new ones are built.
    const rows = new Map([...this.list.children].map((li) => [li.dataset.key, li]));
    const wanted = this.items.map((item) => rows.get(keyOf(item)) || this.row(item));
    render(this.list, wanted);
  }

  /** Items that entered the list: a desktop notification when allowed, else a toast in the page (the
   * desktop window's WebKit may offer no notifications). */
  notifyNew(items) {
    const keys = new Set(items.map(keyOf));
    const desktop = 'Notification' in window && Notification.permission === 'granted';
    for (const item of this.known ? items : []) {
      if (this.known.has(keyOf(item))) continue;
      const title = `${LABEL[item.kind]}: ${item.project_name}`;
      const body = [item.node_title || item.node_id, item.error].filter(Boolean).join(' — ');
      if (desktop) {
        const note = new Notification(title, { body, tag: keyOf(item) });
        note.onclick = () => { window.focus(); this.open(); };
      } else {
        this.actions.notify('info', `${title} — ${body} (Attention, in the top bar)`);
      }
    }
    this.known = keys;
  }

  renderPermission() {
    if (!('Notification' in window)) {
      render(this.permission, h('span', { class: 'muted' }, 'This browser has no desktop notifications.'));
      return;
    }
    if (Notification.permission === 'default') {
      render(this.permission, actionButton('🔔 Desktop notifications', async () => {
        await Notification.requestPermission();
        this.renderPermission();
      }, { 'data-action': 'enable-notifications', title: 'Be told when something starts waiting for you' }));
    } else {
      render(this.permission, h('span', { class: 'muted' },
        Notification.permission === 'granted' ? '🔔 Desktop notifications on' : 'Desktop notifications blocked'));
    }
  }

  row(item) {
    const error = h('p', { class: 'form-error', role: 'alert' });
    const comment = h('textarea', { rows: 2, name: 'comment', placeholder: 'Comment (optional)', 'aria-label': 'Comment' });
    const guard = (work) => async () => {
      error.textContent = '';
      try {
        await work();
        this.refreshSoon();
      } catch (failure) {
        error.textContent = failure.message;
      }
    };
    const client = this.app.client;
    const decide = (approve, choice = {}) => (approve
      ? client.approve(item.execution_id, comment.value.trim(), choice)
      : client.reject(item.execution_id, comment.value.trim()));
    const open = h('button', { type: 'button', 'data-action': 'open-project',
      onclick: () => { this.dialog.close(); this.actions.openProject(item.project_id); } }, 'Open project');
    let body = [];
    if (item.kind === ATTENTION_KIND.GATE) {
      body = [comment, h('div', { class: 'row' },
        actionButton('✓ Approve', guard(() => decide(true)), { class: 'primary', 'data-action': 'approve' }),
        actionButton('✕ Reject', guard(() => decide(false)), { class: 'danger', 'data-action': 'reject' }))];
    } else if (item.kind === ATTENTION_KIND.PICK) {
      const pick = candidatePick(client, item, async (candidate) => {
        await decide(true, { candidate });
        this.refreshSoon();
      });
      body = [pick, comment, h('div', { class: 'row' },
        actionButton('✕ Reject all', guard(() => decide(false)), { class: 'danger', 'data-action': 'reject' }))];
    } else if (item.kind === ATTENTION_KIND.PLAN_REVIEW) {
      const review = planReview(client, item);
      body = [review.element, comment, h('div', { class: 'row' },
        actionButton('✓ Approve', guard(() => {
          const plan = review.edited();
          return decide(true, plan ? { plan } : {});
        }), { class: 'primary', 'data-action': 'approve' }),
        actionButton('✕ Reject', guard(() => decide(false)), { class: 'danger', 'data-action': 'reject' }))];
    } else if (item.kind === ATTENTION_KIND.PARKED) {
      const left = h('span', { class: 'countdown' });
      const tick = () => {
        const s = Math.max(0, Math.round((item.resume_at || 0) - Date.now() / 1000));
        left.textContent = item.resume_at ? `resumes in ${Math.floor(s / 60)} min ${s % 60} s` : 'resumes after a back-off';
        if (left.isConnected || !left.dataset.started) setTimeout(tick, 1000);
        left.dataset.started = '1';
      };
      tick();
      body = [h('p', {}, '⏸ Parked at a usage limit: ', left), h('div', { class: 'row' },
        actionButton('▶ Resume now', guard(() => client.post(`/executions/${encodeURIComponent(item.execution_id)}/resume`)),
          { class: 'primary', 'data-action': 'resume' }),
        actionButton('Cancel', guard(() => client.cancelExecution(item.execution_id)), { 'data-action': 'cancel' }))];
    } else {
      body = [item.error ? h('p', { class: 'mono' }, item.error) : null, h('div', { class: 'row' },
        actionButton('Dismiss', guard(() => client.post(`/runs/${encodeURIComponent(item.run_id)}/seen`)),
          { 'data-action': 'dismiss', title: 'Mark this failed run seen: it leaves the list' }))];
    }
    return h('li', { class: `attention-item kind-${item.kind}`, dataset: { key: keyOf(item), kind: item.kind,
      execution: item.execution_id || '', project: item.project_id } },
      h('div', { class: 'attention-title' },
        h('span', { class: `badge kind-${item.kind}` }, LABEL[item.kind] || item.kind),
        h('strong', {}, item.project_name), h('span', {}, ` · ${item.node_title || item.node_id || item.run_id}`),
        h('span', { class: 'muted' }, ` · ${ago(item.since)}`), h('span', { class: 'spacer' }), open),
      body, error);
  }
}

customElements.define('orc-attention-view', AttentionView);
