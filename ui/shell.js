// The page's frame around the panes: the projects drawer of narrow windows, the help overlay,
// and what Escape closes. The drawer toggle is shown by style.css only where the projects pane
// does not fit beside the DAG; there the pane opens by itself while no project is open.

import { maximise, maximised } from './components/reading-room.js';

export class Shell {
  constructor(store) {
    this.store = store;
    this.toggle = document.querySelector('[data-action=toggle-projects]');
    this.backdrop = document.querySelector('.drawer-backdrop');
    this.help = document.querySelector('orc-help-overlay');
    this.toggle.addEventListener('click', () => this.toggleProjects());
    this.backdrop.addEventListener('click', () => this.toggleProjects(false));
    document.querySelector('[data-action=help]').addEventListener('click', () => this.openHelp());
    this.projectId = undefined;
    store.on('project', () => {
      if (store.projectId === this.projectId) return; // the same project again (a snapshot)
      this.projectId = store.projectId;
      this.toggleProjects(!store.projectId);
    });
    this.toggleProjects(false);
  }

  toggleProjects(open = document.body.dataset.drawer !== 'projects') {
    if (open) document.body.dataset.drawer = 'projects';
    else delete document.body.dataset.drawer;
    this.toggle.setAttribute('aria-expanded', String(open));
  }

  openHelp() {
    this.help.open();
  }

  /** Escape: close the innermost thing that is open (dialogs close themselves). */
  escape() {
    const hub = document.querySelector('orc-hub-settings');
    const canvas = document.querySelector('orc-dag-canvas');
    if (maximised()) maximise(null);
    else if (hub?.open) hub.toggle(false);
    else if (document.body.dataset.drawer) this.toggleProjects(false);
    else if (canvas?.connecting) canvas.setConnectMode(false);
  }
}
