// Where the hub is and which token it wants, kept in localStorage so a desktop shell loading these
// files can point them at any hub. Tokens are kept per hub URL.

const KEY_URL = 'orchestra.hubUrl';
const KEY_TOKENS = 'orchestra.tokens';
const KEY_REMOTES = 'orchestra.remotes';
export const LOCAL_HUB = 'http://localhost:8000';

function read(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key));
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

function write(key, value) {
  localStorage.setItem(key, JSON.stringify(value));
}

export function normalizeUrl(url) {
  const value = String(url || '').trim().replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+/.test(value)) throw new Error(`"${url}" is not a hub URL: write it as http://host:port`);
  return value;
}

/** The hub that served this page, when it was served over http(s). */
export function thisHub() {
  return /^https?:$/.test(location.protocol) ? location.origin : null;
}

export function remotes() {
  return read(KEY_REMOTES, []).filter((r) => r && r.name && r.url);
}

export function presets() {
  const list = [];
  const own = thisHub();
  if (own) list.push({ name: 'This hub', url: own, kind: 'this' });
  if (own !== LOCAL_HUB) list.push({ name: 'Local', url: LOCAL_HUB, kind: 'local' });
  for (const remote of remotes()) list.push({ ...remote, kind: 'remote' });
  return list;
}

export function addRemote(name, url) {
  const clean = normalizeUrl(url);
  const label = String(name || '').trim();
  if (!label) throw new Error('give the remote hub a name');
  write(KEY_REMOTES, [...remotes().filter((r) => r.url !== clean), { name: label, url: clean }]);
  return clean;
}

export function removeRemote(url) {
  write(KEY_REMOTES, remotes().filter((r) => r.url !== url));
}

export function hubUrl() {
  return read(KEY_URL, null) || thisHub() || LOCAL_HUB;
}

export function setHubUrl(url) {
  write(KEY_URL, normalizeUrl(url));
}

export function tokenFor(url) {
  return read(KEY_TOKENS, {})[url] || '';
}

export function saveToken(url, token) {
  const tokens = read(KEY_TOKENS, {});
  if (token) tokens[url] = token;
  else delete tokens[url];
  write(KEY_TOKENS, tokens);
}

/**
 * Read `#token=…` (the login link `python orchestra.py url` prints) and `#project=…` from the
 * fragment. A token in the link belongs to the hub that served the page: switch to it and keep the
 * token, then remove the token from the address bar and history.
 */
export function readFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = params.get('token');
  if (token) {
    const own = thisHub() || hubUrl();
    write(KEY_URL, own);
    saveToken(own, token.trim());
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  return { project: params.get('project'), node: params.get('node'), view: params.get('view') };
}

/** Remember the open project in the fragment, so a reload comes back to it. */
export function setFragmentProject(projectId) {
  const hash = projectId ? `#project=${encodeURIComponent(projectId)}` : '';
  if (location.hash !== hash) history.replaceState(null, '', location.pathname + location.search + hash);
}
