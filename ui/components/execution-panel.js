// <orc-execution-panel>: the selected node's execution: status, duration, tokens, cost, its live
// agent stream (<orc-event-log>), the prompt actually sent, stderr, and the node's earlier
// executions. It follows the node's newest execution until the user picks an older one.
// A waiting gate gets Approve / Reject with a comment (a best-of-N pick, its candidates to pick from); a finished execution in a git workspace its
// diff; one whose agent can resume its session a follow-up box. What the user types in those boxes
// stays put while live updates redraw the rest (each box is redrawn only when what it is for changes).
// Above the log, a toolbar searches it and copies or downloads the whole of it (read from the hub).

import { actionButton, h, render } from '../dom.js';
import { AppElement } from '../element.js';
import {
  ACTIVE, FAILED, cost, mergeExecution, statusLabel, tokens,
} from '../format.js';
import { durationOf, relativeTime } from '../clock.js';
import { EVENT_TYPE, EXECUTION_STATUS, NODE_KIND } from '../statuses.js';
import { asLogEntry, logText } from '../render-event.js';
import { candidatePick } from './candidate-pick.js';
import { planReview } from './plan-review.js';
import { diffView } from './diff-view.js';
import { parkedNote } from './parked-note.js';
import './event-log.js';
import { logViewControls, maximiseButton, ownTabLink } from './reading-room.js';

const LOGGED = new Set([EVENT_TYPE.EXECUTION_OUTPUT, EVENT_TYPE.CHECK_STARTED, EVENT_TYPE.CHECK_FINISHED]);
const TAIL = 2000; // stored events read when an execution is opened (the log shows the newest 1,500)
const SEARCH_DELAY_MS = 150;

class ExecutionPanel extends AppElement {
  attach() {
    if (!this.log) {
      this.head = h('div', { class: 'exec-head' });
      this.gateBox = h('section', { class: 'gate-box', hidden: true, 'aria-label': 'Gate decision' });
      this.followBox = h('section', { class: 'follow-box', hidden: true, 'aria-label': 'Follow-up' });
      this.history = h('details', { class: 'history', open: true });
      this.extra = h('div', { class: 'exec-extra' });
      this.changes = h('details', { class: 'changes', open: true, hidden: true });
      this.log = document.createElement('orc-event-log');
      this.logBar = this.logToolbar();
      render(this, this.head, this.gateBox, this.history, this.extra, this.changes, this.followBox, this.logBar,
        this.log);
      this.nodeId = null;
      this.execution = null;
      this.liveUpdates = 0; // live changes applied to the shown execution (details() reads race them)
    }
    this.listen('selection', () => this.select(this.store.selectedNode));
    this.listen('run-view', () => this.runViewChanged());
    this.listen('project', () => this.select(null));
    this.listen('executions', (event) => this.executionsChanged(event.detail || []));
    this.listen('output', (event) => this.output(event.detail));
    this.listen('connection', () => this.renderHead());
    this.listen('templates', () => this.renderFollowUp());
    this.select(this.store.selectedNode, true);
  }

  select(nodeId, force = false) {
    if (nodeId === this.nodeId && !force) return;
    this.nodeId = nodeId;
    this.follow = true;
    this.executions = [];
    this.show(nodeId ? this.shown() || null : null);
    if (nodeId) this.loadHistory();
  }

  /** The node's execution the page shows: the latest, or while the runs view shows a run, that run's. */
  shown() {
    return this.store.shownExecutions().get(this.nodeId);
  }

  /** Another run picked in the runs view (or back to the latest): show the node's execution in it. */
  runViewChanged() {
    if (this.store.viewedRun !== this.viewedRun) { // a run picked (or none): follow it, whatever was open
      this.viewedRun = this.store.viewedRun;
      this.follow = true;
    }
    const shown = this.nodeId ? this.shown() || null : null;
    if (!this.follow || shown?.id === this.execution?.id) return;
    this.show(shown);
  }

  /** Show one execution: its summary now, then its full record and its stored events. */
  async show(execution) {
    this.execution = execution;
    this.token = Symbol('show');
    const token = this.token;
    this.lastSeq = 0;
    this.pending = [];
    this.loading = Boolean(execution);
    this.searchBox.value = '';
    this.logBar.hidden = !execution;
    this.log.reset(execution ? 'Loading the agent output…' : (this.nodeId ? 'This node has not run yet.' : ''),
      { plain: this.store.templates.find((t) => t.id === execution?.agent)?.output === 'text' });
    this.renderHead();
    this.renderHistory();
    this.renderExtra();
    if (!execution) return;
    try {
      this.details(execution.id);
      // Only the newest events: the log keeps the last CAP entries anyway.
      const page = await this.app.client.eventsTail(execution.id, TAIL);
      if (token !== this.token) return;
      const outputs = page.events.filter((e) => LOGGED.has(e.type)).map(asLogEntry);
      if (outputs.length) this.log.push(outputs);
      this.logComplete = page.events.length < TAIL; // else search reads the rest first
      if (page.events.length) this.lastSeq = page.events[page.events.length - 1].seq;
      this.loading = false;
      const live = this.pending.filter((e) => e.seq > this.lastSeq);
      if (live.length) {
        this.log.push(live);
        this.lastSeq = live[live.length - 1].seq;
      }
      this.pending = [];
      if (!this.log.count) this.log.setStatus(this.idleStatus());
    } catch (error) {
      if (token !== this.token) return;
      this.loading = false;
      this.log.setStatus(`Could not load the agent output: ${error.message}`);
    }
  }

  async details(executionId) {
    const liveBefore = this.liveUpdates;
    try {
      const full = await this.app.client.execution(executionId);
      if (this.execution && this.execution.id === executionId) {
        // A live event that came while the read was on its way is newer than the read (running -> parked
        // ties in progress): the read only adds the fields the events' summaries leave out.
        this.execution = this.liveUpdates === liveBefore ? mergeExecution(this.execution, full)
          : { ...full, ...this.execution };
        this.renderHead();
        this.renderExtra();
      }
    } catch (error) {
      this.actions.notify('error', `Loading execution ${executionId} failed: ${error.message}`);
    }
  }

  async loadHistory() {
    const nodeId = this.nodeId;
    try {
      const page = await this.app.client.executions({ project_id: this.store.projectId, node_id: nodeId, limit: 50 });
      if (nodeId !== this.nodeId) return;
      const live = new Map(this.executions.map((e) => [e.id, e]));
      this.executions = page.executions.map((e) => mergeExecution(live.get(e.id), e));
      for (const e of live.values()) if (!this.executions.some((x) => x.id === e.id)) this.executions.unshift(e);
      this.renderHistory();
    } catch (error) {
      if (nodeId === this.nodeId) render(this.history, h('summary', {}, 'History'),
        h('p', { class: 'form-error' }, `Could not load the history: ${error.message}`));
    }
  }

  executionsChanged(changed) {
    if (!this.nodeId) return;
    const mine = changed.filter((e) => e.node_id === this.nodeId);
    if (!mine.length) return;
    let historyChanged = false;
    for (const execution of mine) {
      const index = this.executions.findIndex((e) => e.id === execution.id);
      if (index >= 0) this.executions[index] = mergeExecution(this.executions[index], execution);
      else this.executions.unshift(execution);
      historyChanged = true;
    }
    const latest = this.shown();
    if (this.follow && latest && (!this.execution || latest.id !== this.execution.id)) {
      this.show(latest);
      return;
    }
    // The newest of them: one message can carry both the start and the end (an agent that could not start).
    const current = this.execution && mine.findLast((e) => e.id === this.execution.id);
    if (current) {
      this.execution = mergeExecution(this.execution, current);
      this.liveUpdates += 1;
      this.renderHead();
      if (!this.log.count && !this.loading) this.log.setStatus(this.idleStatus());
      if (!ACTIVE.has(current.status)) {
        this.details(current.id);
        if (!this.log.count && !this.loading) this.log.setStatus('No output.');
      }
    }
    if (historyChanged) this.renderHistory();
  }

  output(events) {
    if (!this.execution) return;
    const id = this.execution.id;
    const mine = events.filter((e) => e.execution_id === id).map(asLogEntry);
    if (!mine.length) return;
    if (this.loading) {
      for (const event of mine) this.pending.push(event);
      return;
    }
    const fresh = mine.filter((e) => e.seq > this.lastSeq);
    if (!fresh.length) return;
    this.lastSeq = fresh[fresh.length - 1].seq;
    this.log.push(fresh);
  }

  /** Search, copy and download of the shown execution's log. */
  logToolbar() {
    this.searchBox = h('input', { type: 'search', name: 'log-search', placeholder: 'Search the output',
      'aria-label': 'Search the agent output', autocomplete: 'off' });
    let timer = null;
    this.searchBox.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.searchLog(this.searchBox.value), SEARCH_DELAY_MS);
    });
    return h('div', { class: 'log-bar', role: 'toolbar', 'aria-label': 'Agent output', hidden: true },
      this.searchBox,
      actionButton('Copy', () => this.copyLog(), { class: 'small', 'data-action': 'copy-log',
        title: 'Copy the whole log as text' }),
      actionButton('Download', () => this.downloadLog(), { class: 'small', 'data-action': 'download-log',
        title: 'Download the whole log as a text file' }),
      ...logViewControls(this.log, this.store));
  }

  /** Every stored output event of the shown execution (the log on screen was given the newest only). */
  async storedOutput() {
    const id = this.execution.id;
    const events = [];
    let after = 0;
    for (;;) {
      const page = await this.app.client.events(id, after);
      for (const event of page.events) if (LOGGED.has(event.type)) events.push(asLogEntry(event));
      if (page.next_after === null || page.next_after === undefined) break;
      after = page.next_after;
    }
    return events;
  }

  async wholeLog() {
    const id = this.execution.id;
    const events = await this.storedOutput();
    return { id, text: logText(events), count: events.length };
  }

  /** Search the whole log: an execution opened late holds only its newest events until the first search. */
  async searchLog(query) {
    if (query.trim() && !this.loading && !this.logComplete && this.execution) {
      const token = this.token;
      this.logComplete = true;
      this.log.showStatus('Reading the whole log to search it…');
      try {
        const events = await this.storedOutput();
        if (token !== this.token) return;
        this.log.adopt(events);
      } catch (error) {
        if (token !== this.token) return;
        this.logComplete = false;
        this.actions.notify('error', `Reading the whole log failed: ${error.message}; searching what is shown.`);
      }
    }
    this.log.search(this.searchBox.value);
  }

  async copyLog() {
    try {
      const { text, count } = await this.wholeLog();
      await copyText(text);
      this.actions.notify('info', `Copied ${count.toLocaleString()} log entr${count === 1 ? 'y' : 'ies'}.`);
    } catch (error) {
      this.actions.notify('error', `Copying the log failed: ${error.message}`);
    }
  }

  async downloadLog() {
    try {
      const { id, text } = await this.wholeLog();
      const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
      const link = h('a', { href: url, download: `execution-${id}.log`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 0);
    } catch (error) {
      this.actions.notify('error', `Downloading the log failed: ${error.message}`);
    }
  }

  /** What the log says while it has no entry. */
  idleStatus() {
    const status = this.execution?.status;
    if (status === EXECUTION_STATUS.WAITING) return 'Waiting for a decision.';
    return ACTIVE.has(status) ? 'Waiting for output…' : 'No output.';
  }

  isGate() {
    return this.store.nodes.get(this.nodeId)?.kind === NODE_KIND.GATE;
  }

  /** Show another execution of this node (history, follow-up links), following the shown one if it is. */
  async open(executionId) {
    let execution = (this.executions || []).find((e) => e.id === executionId);
    if (!execution) {
      try {
        execution = await this.app.client.execution(executionId);
      } catch (error) {
        this.actions.notify('error', `Loading execution ${executionId} failed: ${error.message}`);
        return;
      }
    }
    this.follow = executionId === this.shown()?.id;
    this.show(execution);
  }

  executionLink(id) {
    return h('button', { type: 'button', class: 'link mono', dataset: { executionId: id },
      'aria-label': `Open execution ${id}`, onclick: () => this.open(id) }, id);
  }

  renderHead() {
    const node = this.nodeId ? this.store.nodes.get(this.nodeId) : null;
    const e = this.execution;
    this.renderGate();
    this.renderFollowUp();
    this.renderChanges();
    if (!node) {
      render(this.head);
      return;
    }
    const gate = node.kind === NODE_KIND.GATE;
    const followUps = e ? (this.executions || []).filter((x) => x.parent_execution_id === e.id) : [];
    const status = e?.status || 'none';
    this.dataset.status = status;
    this.dataset.executionId = e?.id || '';
    const online = this.store.connection.state === 'online';
    const fact = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
    render(this.head,
      h('h3', {}, node.title, ' ',
        h('span', { class: `badge status-${status}`, 'data-role': 'status' },
          status === 'none' ? 'not run yet' : statusLabel(status)),
        status === EXECUTION_STATUS.RUNNING ? h('span', { class: 'spinner', 'aria-label': statusLabel(status) }) : null),
      e && gate ? h('dl', { class: 'facts' },
        fact('Execution', h('code', {}, e.id)),
        fact('Kind', 'gate'),
        fact('Started', relativeTime(e.started_at)),
        fact(status === EXECUTION_STATUS.WAITING ? 'Waiting' : 'Duration', this.durationFact(e))) : null,
      e && !gate ? h('dl', { class: 'facts' },
        fact('Execution', h('code', {}, e.id)),
        fact('Attempt', String(e.attempt ?? 1)),
        fact('Started', relativeTime(e.started_at)),
        fact('Duration', this.durationFact(e)),
        fact('Tokens', tokens(e)),
        fact('Cost', cost(e.cost_usd)),
        fact('Exit code', e.exit_code ?? '–'),
        fact('Model', e.model || '–'),
        e.ran_on && e.ran_on !== 'local' ? fact('Ran on', h('code', { 'data-role': 'ran-on' }, e.ran_on)) : null,
        e.sandbox ? fact('Sandbox', h('code', { 'data-role': 'sandbox' }, e.sandbox)) : null,
        e.session_id ? fact('Session', h('code', { 'data-role': 'session' }, e.session_id)) : null) : null,
      node.check ? h('p', { class: 'check-line', 'data-role': 'check' }, 'Check ',
        h('code', { title: node.check.join(' ') }, node.check.join(' ')),
        node.max_repairs ? ` · up to ${node.max_repairs} repair${node.max_repairs === 1 ? '' : 's'}` : '') : null,
      e?.parent_execution_id ? h('p', { class: 'lineage', 'data-role': 'parent' },
        this.isRepair(e) ? 'Repair of ' : 'Follow-up of ', this.executionLink(e.parent_execution_id)) : null,
      followUps.length ? h('p', { class: 'lineage', 'data-role': 'follow-ups' },
        followUps.every((x) => this.isRepair(x)) ? 'Repaired by: ' : `Follow-up${followUps.length === 1 ? '' : 's'}: `,
        followUps.map((x, i) => [i ? ', ' : '', this.executionLink(x.id)])) : null,
      e?.error && e.status !== EXECUTION_STATUS.PARKED ? h('p', { class: 'exec-error', role: 'alert' }, e.error) : null,
      parkedNote(e, this.actions, online),
      h('div', { class: 'row' },
        e && ACTIVE.has(e.status) ? actionButton('■ Cancel execution',
          () => this.actions.cancelExecution(e.id).catch(() => {}),
          { class: 'danger', 'data-action': 'cancel-execution', disabled: !online }) : null,
        actionButton(e && FAILED.has(e.status) ? '↻ Re-run from here' : '▶ Run from here',
          () => this.actions.launch([node.id]).catch(() => {}),
          { 'data-action': 'panel-run-from', disabled: !online }),
        this.follow ? null : h('button', { type: 'button', class: 'link', onclick: () => {
          this.follow = true;
          this.show(this.shown() || null);
        } }, this.store.viewedRun ? 'Back to this run' : 'Back to the latest')));
  }

  durationFact(e) {
    return h('span', { 'data-role': 'duration' }, durationOf(e) ?? '–');
  }

  renderHistory() {
    const list = this.executions || [];
    const shown = this.execution?.id;
    render(this.history, h('summary', {}, `History (${list.length})`),
      list.length ? h('ol', { class: 'history-list' }, list.map((e) => h('li', {},
        h('button', { type: 'button', class: e.id === shown ? 'current' : '', dataset: { executionId: e.id },
          onclick: () => {
            this.follow = e.id === this.shown()?.id;
            this.show(e);
          } },
        h('span', { class: `badge status-${e.status}` }, statusLabel(e.status)),
        ' ', relativeTime(e.started_at || e.created_at), ' · ', durationOf(e) ?? '–',
        e.attempt > 1 ? ` · attempt ${e.attempt}` : '',
        e.candidate ? ` · candidate ${e.candidate}` : '',
        e.parent_execution_id ? (this.isRepair(e) ? ' · repair' : ' · follow-up') : '')))) : h('p', { class: 'muted' }, 'No execution yet.'));
  }

  /** A repair turn (its node's check failed) continues its parent in the same run; a follow-up starts a run. */
  isRepair(e) {
    const parent = (this.executions || []).find((x) => x.id === e.parent_execution_id);
    return Boolean(parent && parent.run_id === e.run_id);
  }

  /** Approve / Reject, with a comment, while the shown execution is a gate waiting for a decision. */
  renderGate() {
    const e = this.execution;
    const key = e && e.status === EXECUTION_STATUS.WAITING ? e.id : null;
    if (key === this.gateKey) return; // keep what is typed
    this.gateKey = key;
    this.gateBox.hidden = !key;
    if (!key) {
      render(this.gateBox);
      return;
    }
    const comment = h('textarea', { name: 'comment', rows: 3,
      placeholder: 'Optional: why. It becomes the gate\'s result, passed to what depends on it.' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    comment.addEventListener('input', () => { error.textContent = ''; });
    const commentText = () => (comment.value.trim() ? comment.value : null);
    const node = this.store.nodes.get(this.nodeId);
    const review = node?.kind === NODE_KIND.PLAN ? planReview(this.app.client, e) : null;
    const decide = (approve) => async () => {
      error.textContent = '';
      try {
        const plan = approve ? review?.edited() : null;
        await this.actions.decide(e.id, approve, commentText(), plan ? { plan } : {});
      } catch (failure) {
        error.textContent = failure.message; // the comment (and the task list) stay as typed
      }
    };
    const pick = node?.candidates
      ? candidatePick(this.app.client, e,
        (id) => this.actions.decide(e.id, true, commentText(), { candidate: id }))
      : null;
    render(this.gateBox,
      h('h4', {}, pick ? 'Waiting for a pick' : review ? 'Waiting for the plan\'s review' : 'Waiting for a decision'),
      h('p', { class: 'muted' }, pick ? 'Pick the candidate that what depends on this node builds on; reject to skip it.'
        : review ? 'Approve to add these tasks below the plan and run them; reject to fail the plan.'
          : 'Approve to let what depends on this gate run; reject to skip it.'),
      pick, review?.element,
      h('label', {}, 'Comment', comment),
      error,
      h('div', { class: 'row' },
        pick ? null : actionButton('✓ Approve', decide(true), { class: 'primary', 'data-action': 'approve' }),
        actionButton(pick ? '✕ Reject all' : '✕ Reject', decide(false), { class: 'danger', 'data-action': 'reject' })));
  }

  /** A box to continue the agent's session, on a finished execution whose template can resume. */
  renderFollowUp() {
    const e = this.execution;
    const template = e ? this.store.templates.find((t) => t.id === e.agent) : null;
    const can = Boolean(e && !ACTIVE.has(e.status) && e.session_id && template?.resume_command && !this.isGate());
    const key = can ? e.id : null;
    if (key === this.followKey) return; // keep what is typed
    this.followKey = key;
    this.followBox.hidden = !key;
    if (!key) {
      render(this.followBox);
      return;
    }
    const prompt = h('textarea', { name: 'follow-up', rows: 3,
      placeholder: 'Continue this agent\'s session, e.g. "Now add tests for it."' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    prompt.addEventListener('input', () => { error.textContent = ''; });
    const send = async () => {
      error.textContent = '';
      try {
        const result = await this.actions.followUp(e.id, prompt.value);
        prompt.value = '';
        this.openFollowUp(result, e);
      } catch (failure) {
        error.textContent = failure.message; // the prompt stays as typed
      }
    };
    render(this.followBox,
      h('label', {}, 'Follow up', prompt),
      h('p', { class: 'muted' }, 'A new execution of this node that continues the agent\'s session (same session id).'),
      error,
      h('div', { class: 'row' }, actionButton('↪ Send follow-up', send, { 'data-action': 'send-follow-up' })));
  }

  /** The follow-up just launched: show it at once (its live events fill it in). */
  openFollowUp(result, parent) {
    const created = result.executions?.[0];
    if (!created || parent.node_id !== this.nodeId) return;
    this.follow = !this.store.viewedRun; // a run picked in the runs view would take the panel back to it
    if (this.execution?.id === created.id) return;
    const known = this.shown();
    this.show(known?.id === created.id ? known : {
      ...created, project_id: parent.project_id, run_id: result.run_id, agent: parent.agent,
      parent_execution_id: parent.id, attempt: 1, created_at: Date.now() / 1000,
    });
  }

  /** The git checkpoint's diff of a finished execution, fetched once per execution shown. */
  renderChanges() {
    const e = this.execution;
    const key = e && e.base_commit && e.commit_sha && !ACTIVE.has(e.status) ? `${e.id}:${e.commit_sha}` : null;
    if (key === this.changesKey) return;
    this.changesKey = key;
    this.changes.hidden = !key;
    // The controls follow the summary (a control inside a summary is a nested interactive for readers).
    const summary = [h('summary', {}, 'Changes'),
      h('div', { class: 'changes-tools' }, maximiseButton('diff', 'The diff'), ' ', ownTabLink('diff', this.store))];
    if (!key) {
      render(this.changes);
      return;
    }
    render(this.changes, summary, h('p', { class: 'muted' }, 'Loading the diff…'));
    this.app.client.diff(e.id).then((diff) => {
      if (key === this.changesKey) render(this.changes, summary, diffView(diff));
    }, (error) => {
      if (key === this.changesKey) {
        render(this.changes, summary, h('p', { class: 'form-error', role: 'alert' }, `Could not load the diff: ${error.message}`));
      }
    });
  }

  renderExtra() {
    const e = this.execution;
    if (!e) {
      render(this.extra);
      return;
    }
    const gate = this.isGate();
    render(this.extra,
      e.result_text ? h('details', { class: 'result', open: gate },
        h('summary', {}, gate ? 'Decision comment' : 'Final result'), h('pre', {}, e.result_text)) : null,
      e.prompt ? h('details', { class: 'prompt' }, h('summary', {}, 'Prompt sent'), h('pre', {}, e.prompt)) : null,
      e.stderr ? h('details', { class: 'stderr' }, h('summary', {}, 'Standard error'), h('pre', {}, e.stderr)) : null);
  }
}

/** The clipboard API needs a secure context (https or localhost); a plain-http hub gets the old way. */
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = h('textarea', { readonly: true, class: 'sr-only' }, text);
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  if (!copied) throw new Error('the browser refused to copy');
}

customElements.define('orc-execution-panel', ExecutionPanel);
