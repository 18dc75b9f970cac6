/**
 * What a browser tells the client about its network and its page: the `online` and `offline` events of
 * the window (or worker) the client runs in, and the window's `pagehide` and `pageshow`. Nothing in Node,
 * which has no such events.
 */
export interface LifecycleListener {
  /**
   * The network is back: a reconnect waiting out its backoff goes now, the backoff started over, instead
   * of up to `reconnect.maxMs` later; an attempt under way that then fails is followed by another at once.
   */
  networkBack(): void;
  /**
   * The network is gone: the socket can no longer be heard, but the browser does not close it, and the
   * heartbeat would take up to two intervals and the margin to give it up. It is dropped now (or the
   * attempt under way), and reconnects go on with the backoff until the network is back.
   */
  networkGone(): void;
  /**
   * `why` "cached": the page goes into the back/forward cache (`pagehide` with `persisted`): the connection
   * is closed, as an open WebSocket keeps a page out of the cache, and no reconnect is made until the page
   * comes back from it (`pageshow` with `persisted`), when the client reconnects at once and resumes from
   * the versions it holds. A page the browser does not keep is gone anyway.
   */
  setPaused(paused: boolean, why: "cached"): void;
}

/** Listens to the browser's events for one client, from its connect() to its close(). */
export class PageLifecycle {
  private attached = false;
  private readonly online = () => this.listener.networkBack();
  private readonly offline = () => this.listener.networkGone();
  private readonly hide = (e: Event) => (e as PageTransitionEvent).persisted && this.listener.setPaused(true, "cached");
  private readonly show = (e: Event) => (e as PageTransitionEvent).persisted && this.listener.setPaused(false, "cached");

  constructor(private readonly listener: LifecycleListener) {}

  attach(): void {
    const target = events();
    if (this.attached || !target) return;
    this.attached = true;
    target.addEventListener("online", this.online);
    target.addEventListener("offline", this.offline);
    target.addEventListener("pagehide", this.hide);
    target.addEventListener("pageshow", this.show);
  }

  detach(): void {
    const target = events();
    if (!this.attached || !target) return;
    this.attached = false;
    target.removeEventListener("online", this.online);
    target.removeEventListener("offline", this.offline);
    target.removeEventListener("pagehide", this.hide);
    target.removeEventListener("pageshow", this.show);
  }
}

type Events = Pick<EventTarget, "addEventListener" | "removeEventListener">;

/** Where a browser (a window or a worker) announces these events; undefined in Node. */
function events(): Events | undefined {
  const g = globalThis as Partial<Events>;
  return typeof g.addEventListener === "function" && typeof g.removeEventListener === "function" ? (g as Events) : undefined;
}
