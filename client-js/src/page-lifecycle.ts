/**
 * What a browser tells the client about its network and its page: the `online` and `offline` events of
 * the window (or worker) the client runs in, the `change` event of its `navigator.connection` (Chromium's),
 * and the window's `pagehide` and `pageshow` and its document's `visibilitychange`. Nothing in Node, which
 * has no such events.
 */
export interface LifecycleListener {
  /**
   * The network is back: a reconnect waiting out its backoff goes now, the backoff started over, instead
   * of up to `reconnect.maxMs` later; an attempt under way that then fails is followed by another at once.
   */
  networkBack(): void;
  /**
   * The page is visible again (`visibilitychange`), or the network changed without going offline
   * (`navigator.connection`'s `change`, as from Wi-Fi to cellular): the socket may have died unheard
   * meanwhile, which the heartbeat would notice only up to two intervals and the margin later (a hidden
   * tab's timers fire late too). A welcomed connection sends a `Ping` now and is given up if its `Pong`
   * does not come back within `heartbeatMarginMs` (at least a second), and another made at once. The app's
   * `checkConnection()` does the same.
   */
  checkConnection(why: string): void;
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
  private readonly visible = () => page()?.visibilityState === "visible" && this.listener.checkConnection("the page was shown again");
  private readonly changed = () => this.listener.checkConnection("the network changed");

  constructor(private readonly listener: LifecycleListener) {}

  attach(): void {
    const target = events();
    if (this.attached || !target) return;
    this.attached = true;
    target.addEventListener("online", this.online);
    target.addEventListener("offline", this.offline);
    target.addEventListener("pagehide", this.hide);
    target.addEventListener("pageshow", this.show);
    page()?.addEventListener("visibilitychange", this.visible);
    connection()?.addEventListener("change", this.changed);
  }

  detach(): void {
    const target = events();
    if (!this.attached || !target) return;
    this.attached = false;
    target.removeEventListener("online", this.online);
    target.removeEventListener("offline", this.offline);
    target.removeEventListener("pagehide", this.hide);
    target.removeEventListener("pageshow", this.show);
    page()?.removeEventListener("visibilitychange", this.visible);
    connection()?.removeEventListener("change", this.changed);
  }
}

type Events = Pick<EventTarget, "addEventListener" | "removeEventListener">;

/** Where a browser (a window or a worker) announces these events; undefined in Node. */
function events(): Events | undefined {
  const g = globalThis as Partial<Events>;
  return typeof g.addEventListener === "function" && typeof g.removeEventListener === "function" ? (g as Events) : undefined;
}

/** The window's document, whose `visibilityState` says whether the page is shown; undefined in a worker and in Node. */
function page(): (Events & { visibilityState: string }) | undefined {
  const d = (globalThis as { document?: Partial<Events> & { visibilityState?: string } }).document;
  const usable = typeof d?.addEventListener === "function" && typeof d.visibilityState === "string";
  return usable ? (d as Events & { visibilityState: string }) : undefined;
}

/** The Network Information API's `navigator.connection` (Chromium's browsers, also in workers); undefined elsewhere. */
function connection(): Events | undefined {
  const c = (globalThis as { navigator?: { connection?: Partial<Events> } }).navigator?.connection;
  return typeof c?.addEventListener === "function" && typeof c.removeEventListener === "function" ? (c as Events) : undefined;
}
