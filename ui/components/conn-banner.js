// <orc-conn-banner>: says plainly when the hub cannot be reached or refuses the token, and when
// the live connection is being re-established. Hidden when all is well.

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';

class ConnBanner extends AppElement {
  attach() {
    this.setAttribute('role', 'status');
    this.setAttribute('aria-live', 'polite');
    this.listen('connection', () => this.update());
    this.listen('live', () => this.update());
    this.update();
  }

  update() {
    const { state, message } = this.store.connection;
    const live = this.store.live;
    const openSettings = h('button', { type: 'button', onclick: () => this.store.emit('open-settings') },
      'Hub settings');
    if (state === 'unreachable') {
      this.show('error', 'unreachable', h('strong', {}, 'The hub is unreachable. '), message, ' ', openSettings);
    } else if (state === 'unauthorized') {
      this.show('error', 'unauthorized', h('strong', {}, 'Not signed in. '), message, ' ',
        h('button', { type: 'button', onclick: () => this.store.emit('open-settings') }, 'Enter token'));
    } else if (state === 'online' && live.state === 'reconnecting' && this.store.projectId) {
      this.show('warn', 'reconnecting', h('strong', {}, 'Live updates interrupted. '),
        live.message ? `${live.message}; ` : '', 'reconnecting…');
    } else {
      this.hidden = true;
      this.dataset.kind = 'none';
      render(this);
    }
  }

  show(level, kind, ...content) {
    this.hidden = false;
    this.className = `banner ${level}`;
    this.dataset.kind = kind;
    render(this, ...content);
  }
}

customElements.define('orc-conn-banner', ConnBanner);
