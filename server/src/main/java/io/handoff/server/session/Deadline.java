package io.handoff.server.session;

/**
 * A timer of one connection that costs no task and no future of its own: armed through {@link
 * Connection#arm}, it waits in its event loop's one heap of deadlines ({@link LoopDeadlines}),
 * which keeps a single timer on the node's scheduler for the earliest of them. A connection that
 * holds a timer for its whole life (the token keeper's expiry) then costs the 12 bytes of these
 * fields instead of a scheduled task, its future and a lambda (about 95 bytes). Event loop only.
 */
public abstract class Deadline {
  // Nanoseconds of the node's scheduler at which it is due; its place in the loop's heap, -1 when
  // not armed.
  long dueNanos;
  int heapIndex = -1;

  /** Runs on the event loop once the deadline is due, unless disarmed first. */
  protected abstract void expired();

  /** True while armed and not yet run. Event loop. */
  public final boolean armed() {
    return heapIndex >= 0;
  }
}
