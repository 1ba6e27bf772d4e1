// Base class of the app's custom elements: it receives the app ({store, actions, client, ...}) as a
// property and listens to store topics only while it is in the document.

export class AppElement extends HTMLElement {
  constructor() {
    super();
    this._app = null;
    this._offs = [];
  }

  get app() { return this._app; }
  set app(app) {
    this._app = app;
    if (this.isConnected) this._attach();
  }

  get store() { return this._app.store; }
  get actions() { return this._app.actions; }

  connectedCallback() {
    if (this._app) this._attach();
  }

  disconnectedCallback() {
    this._detach();
  }

  _attach() {
    this._detach();
    this.attach();
  }

  _detach() {
    for (const off of this._offs) off();
    this._offs = [];
    this.detach?.();
  }

  /** Subclasses: build the DOM and call listen(). */
  attach() {}

  listen(topic, handler) {
    this._offs.push(this.store.on(topic, handler));
  }

  /** Many events can arrive in one frame: call update() once per frame at most. */
  schedule() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = null;
      this.update();
    });
  }
}
