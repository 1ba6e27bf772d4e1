// The node editor's fields for a land node (kind "land"): how it lands the work of the nodes above it —
// merged into a base branch, pushed to a remote, or pushed with a pull request — and how many repair
// turns a merge conflict may take. Empty means the hub's default (README, "Landing the work").

import { h } from '../dom.js';

const MODES = [
  ['merge', 'Merge into the base branch'],
  ['push', 'Push a branch to a remote'],
  ['pull_request', 'Push and open a pull request (GitHub, GitLab merge request, Gitea)'],
];
// Where a pull request is opened (mode pull_request only); the hub holds each forge's token.
const FORGES = [
  ['github', 'GitHub (ORCHESTRA_GITHUB_TOKEN)'],
  ['gitlab', 'GitLab merge request (ORCHESTRA_GITLAB_TOKEN)'],
  ['gitea', 'Gitea (ORCHESTRA_GITEA_API, ORCHESTRA_GITEA_TOKEN)'],
];

/** {element, value()}: value() is the land node's fields for the hub. */
export function landFields(node) {
  const land = node?.land ?? {};
  const mode = h('select', { name: 'land_mode' },
    MODES.map(([value, label]) => h('option', { value, selected: (land.mode ?? 'merge') === value }, label)));
  const forge = h('select', { name: 'land_forge' },
    FORGES.map(([value, label]) => h('option', { value, selected: (land.forge ?? 'github') === value }, label)));
  const forgeLabel = h('label', { hidden: mode.value !== 'pull_request' }, 'Forge', forge);
  mode.addEventListener('change', () => { forgeLabel.hidden = mode.value !== 'pull_request'; });
  const base = h('input', { name: 'land_base', value: land.base ?? '', placeholder: 'the checked-out branch' });
  const remote = h('input', { name: 'land_remote', value: land.remote ?? '', placeholder: 'origin' });
  const branch = h('input', { name: 'land_branch', value: land.branch ?? '', placeholder: 'orchestra/<project>/<run>' });
  const repairs = h('input', { name: 'land_max_repairs', type: 'number', min: 0, max: 10,
    value: node?.max_repairs ?? 0 });
  const element = h('div', { class: 'stack land-fields' },
    h('p', { class: 'muted' }, 'A land node runs no agent: once the nodes above it have succeeded it lands their '
      + 'work. A merge conflict is repaired by the agent whose work conflicts, up to the repair turns.'),
    h('label', {}, 'Mode', mode),
    forgeLabel,
    h('div', { class: 'grid3' }, h('label', {}, 'Base branch', base), h('label', {}, 'Remote', remote),
      h('label', {}, 'Branch pushed', branch)),
    h('label', {}, 'Repair turns for a conflict', repairs));
  const value = () => {
    const fields = { mode: mode.value };
    // GitHub is the default: only another forge is sent (a merge or push node has none: the hub refuses it)
    if (mode.value === 'pull_request' && forge.value !== 'github') fields.forge = forge.value;
    for (const [key, input] of [['base', base], ['remote', remote], ['branch', branch]]) {
      if (input.value.trim()) fields[key] = input.value.trim();
    }
    return { land: fields, max_repairs: repairs.value === '' ? 0 : Number(repairs.value) };
  };
  return { element, value };
}
