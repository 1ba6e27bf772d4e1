// Entry point: wires the state holder, the hub client and the components together.

import { Actions } from './actions.js';
import { HubClient } from './api.js';
import { ConnectionMonitor } from './connection.js';
import { hubUrl, readFragment, tokenFor } from './settings.js';
import { Shell } from './shell.js';
import { installInspectorResizer, maximise } from './components/reading-room.js';
import { installShortcuts } from './shortcuts.js';
import { Store } from './state.js';
import './components/hub-settings.js';
import './components/conn-banner.js';
import './components/toast-list.js';
import './components/project-list.js';
import './components/dag-view.js';
import './components/inspector.js';
import './components/help-overlay.js';
import './components/templates-view.js';
import './components/attention-view.js';
import './components/launch-inputs.js'; // its fields join the launch dialog

const store = new Store();
const app = { store, client: null, actions: null, monitor: null, shell: new Shell(store), connect };
const fragment = readFragment();
let wantedProject = fragment.project;

/** (Re)connect to the hub named in the settings: a new client, a fresh state. */
function connect() {
  app.monitor?.stop();
  app.actions?.close();
  const url = hubUrl();
  const client = new HubClient(url, tokenFor(url));
  const actions = new Actions(store, client);
  app.client = client;
  app.actions = actions;
  store.hubUrl = url;
  store.setProjects([]);
  store.projectsLoaded = false;
  store.openProject(null);
  store.setConnection('connecting', `Connecting to ${url}…`);
  app.monitor = new ConnectionMonitor(store, client, async () => {
    try {
      await actions.refresh();
    } catch (error) {
      actions.notify('error', `Loading from the hub failed: ${error.message}`);
      return;
    }
    if (wantedProject && !store.projectId) {
      if (store.projects.some((p) => p.id === wantedProject)) {
        actions.openProject(wantedProject);
        if (fragment.node) openFromFragment(fragment);
      }
      else actions.notify('error', `Project ${wantedProject} does not exist on ${url}.`);
      wantedProject = null;
    }
  });
  store.emit('hub');
  app.monitor.start();
}

/** "#project=…&node=…&view=log|diff": select the node once its project is loaded, then maximise the view. */
function openFromFragment({ node, view }) {
  const off = store.on('nodes', () => {
    if (!store.nodes.has(node)) return;
    off();
    store.selectNode(node);
    if (view) maximise(view);
  });
}

for (const el of document.querySelectorAll('[data-app]')) el.app = app;
installShortcuts(app);
installInspectorResizer(document.querySelector('main.layout'), document.querySelector('orc-inspector'));
connect();
window.orchestra = app; // for the console and the browser tests
