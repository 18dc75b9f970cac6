/**
 * A small typed event emitter: `on` returns a function that removes the listener.
 *
 * One event at a time, as the Java client's listeners: an event raised while the listeners hear
 * another (a listener called `close()` or `connect()`, which changes the state) waits until every
 * listener has heard the one before, so each listener hears the events in the order they happened
 * and is never called from inside itself. Once {@link close}d, no listener is called again.
 */
export class Emitter<Events extends { [K in keyof Events]: (...args: any[]) => void }> {
  private readonly listeners: { [K in keyof Events]?: Set<Events[K]> } = {};
  // Events raised while the listeners hear an earlier one.
  private readonly queued: (() => void)[] = [];
  private delivering = false;
  private closed = false;

  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    (this.listeners[event] ??= new Set()).add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    this.listeners[event]?.delete(listener);
  }

  /** Calls each listener; a listener that throws is reported on the console and skipped. */
  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    if (this.closed || !this.has(event)) return;
    this.deliver(() => {
      for (const l of [...(this.listeners[event] ?? [])]) {
        if (this.closed) return;
        try {
          l(...args);
        } catch (e) {
          console.error(`handoff: a '${String(event)}' listener threw`, e);
        }
      }
    });
  }

  has<K extends keyof Events>(event: K): boolean {
    return (this.listeners[event]?.size ?? 0) > 0;
  }

  /** No listener is called after the events emitted so far (the client was closed; the last of them said so). */
  close(): void {
    this.deliver(() => {
      this.closed = true;
    });
  }

  private deliver(event: () => void): void {
    this.queued.push(event);
    if (this.delivering) return; // The call under way delivers it next.
    this.delivering = true;
    try {
      for (let next = this.queued.shift(); next; next = this.queued.shift()) next();
    } finally {
      this.delivering = false;
    }
  }
}
