/**
 * What a browser tells the client about its network: the `online` and `offline` events of the window (or
 * worker) the client runs in. Nothing in Node, which has no such events.
 */
export interface LifecycleListener {
  /**
   * The network is back: a reconnect waiting out its backoff goes now, the backoff started over, instead
   * of up to `reconnect.maxMs` later.
   */
  networkBack(): void;
  /**
   * The network is gone: the socket can no longer be heard, but the browser does not close it, and the
   * heartbeat would take up to two intervals and the margin to give it up. It is dropped now (or the
   * attempt under way), and reconnects go on with the backoff until the network is back.
   */
  networkGone(): void;
}

/** Listens to the browser's events for one client, from its connect() to its close(). */
export class PageLifecycle {
  private attached = false;
  private readonly online = () => this.listener.networkBack();
  private readonly offline = () => this.listener.networkGone();

  constructor(private readonly listener: LifecycleListener) {}

  attach(): void {
    const target = events();
    if (this.attached || !target) return;
    this.attached = true;
    target.addEventListener("online", this.online);
    target.addEventListener("offline", this.offline);
  }

  detach(): void {
    const target = events();
    if (!this.attached || !target) return;
    this.attached = false;
    target.removeEventListener("online", this.online);
    target.removeEventListener("offline", this.offline);
  }
}

type Events = Pick<EventTarget, "addEventListener" | "removeEventListener">;

/** Where a browser (a window or a worker) announces these events; undefined in Node. */
function events(): Events | undefined {
  const g = globalThis as Partial<Events>;
  return typeof g.addEventListener === "function" && typeof g.removeEventListener === "function" ? (g as Events) : undefined;
}
