// <orc-inspector>: the right-hand pane. Two tabs for the selected node: its executions (live log,
// history) and its settings; "+ Node" opens the settings tab on a new node.

import { h, render } from '../dom.js';
import { AppElement } from '../element.js';
import './execution-panel.js';
import './node-editor.js';
import './project-overview.js';

class Inspector extends AppElement {
  attach() {
    if (!this.editor) {
      this.tabs = h('div', { class: 'tabs', role: 'tablist' });
      this.editor = document.createElement('orc-node-editor');
      this.panel = document.createElement('orc-execution-panel');
      this.placeholder = h('p', { class: 'muted empty' }, 'Select a node to see its executions and settings.');
      this.overview = document.createElement('orc-project-overview');
      render(this, this.tabs, this.placeholder, this.overview, this.panel, this.editor);
      this.tab = 'execution';
    }
    this.editor.app = this.app;
    this.overview.app = this.app;
    this.panel.app = this.app;
    this.listen('selection', () => {
      const node = this.store.selectedNode;
      if (this.editor.creating) {
        if (!node) return; // a click on the background keeps the new-node form open
        this.editor.edit(node, false); // another node was picked: drop the unsaved new node
        this.tab = 'execution';
      }
      this.update();
    });
    this.listen('project', () => { this.tab = 'execution'; this.update(); });
    this.listen('edit-node', (event) => {
      this.tab = 'node';
      this.editor.edit(event.detail.create ? null : this.store.selectedNode);
      this.update();
    });
    this.update();
  }

  update() {
    const store = this.store;
    const creating = this.editor.creating;
    const node = store.selectedNode;
    const visible = Boolean(store.projectId && (node || creating));
    this.placeholder.hidden = visible || Boolean(store.projectId);
    this.overview.hidden = visible || !store.projectId;
    this.tabs.hidden = !visible;
    this.placeholder.textContent = store.projectId ? 'Select a node to see its executions and settings.' : '';
    if (!visible) {
      render(this.tabs);
      this.panel.hidden = true;
      this.editor.hidden = true;
      return;
    }
    const tab = creating ? 'node' : this.tab;
    const button = (id, label) => h('button', { type: 'button', role: 'tab', 'aria-selected': String(tab === id),
      'data-tab': id, disabled: creating && id === 'execution',
      onclick: () => { this.tab = id; if (id === 'node') this.editor.edit(node); this.update(); } }, label);
    render(this.tabs, button('execution', 'Executions'), button('node', creating ? 'New node' : 'Node settings'));
    this.panel.hidden = tab !== 'execution';
    this.editor.hidden = tab !== 'node';
    if (tab === 'node' && !creating && this.editor.nodeId !== node) this.editor.edit(node);
  }
}

customElements.define('orc-inspector', Inspector);
