// Watches the hub: is it reachable, does it take our token? Sets store.connection, which the banner
// shows, and retries on its own until the hub answers again; then everything is fetched anew. (The
// project list needs no polling: the hub feed keeps it current.)

const RETRY_MS = 2000;

export class ConnectionMonitor {
  constructor(store, client, onOnline) {
    this.store = store;
    this.client = client;
    this.onOnline = onOnline;
    this.checking = null;
    this.timer = null;
    this.stopped = false;
    const recheck = () => this.check();
    client.addEventListener('unreachable', recheck);
    client.addEventListener('dropped', recheck);
    client.addEventListener('unauthorized', () => this.refused());
  }

  start() {
    this.check();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  refused() {
    const message = this.client.token
      ? `The hub at ${this.client.baseUrl} refused the token. Enter the token printed by "python orchestra.py token".`
      : `No token for the hub at ${this.client.baseUrl}. Open the login link printed by "python orchestra.py url", or enter the token.`;
    this.store.setConnection('unauthorized', message);
  }

  check() {
    if (this.stopped) return Promise.resolve();
    if (!this.checking) this.checking = this.run().finally(() => { this.checking = null; });
    return this.checking;
  }

  async run() {
    clearTimeout(this.timer);
    const wasOnline = this.store.connection.state === 'online';
    try {
      this.store.sandbox = (await this.client.health()).sandbox;  // "bwrap" or "off: <reason>"
    } catch (error) {
      this.store.setConnection('unreachable',
        `${error.message} Retrying every ${RETRY_MS / 1000} s; the page will catch up by itself.`);
      this.timer = setTimeout(() => this.check(), RETRY_MS);
      return;
    }
    if (!this.client.token) {
      this.refused();
      return;
    }
    try {
      await this.client.templates();
    } catch (error) {
      if (error.status === 401) this.refused();
      else {
        const message = error.code === 'unreachable' ? error.message
          : `The hub answers /health, but reading its agent templates failed: ${error.message}`;
        this.store.setConnection('unreachable', `${message} Retrying every ${RETRY_MS / 1000} s.`);
        this.timer = setTimeout(() => this.check(), RETRY_MS);
      }
      return;
    }
    this.store.setConnection('online');
    if (!wasOnline) await this.onOnline();
  }
}
