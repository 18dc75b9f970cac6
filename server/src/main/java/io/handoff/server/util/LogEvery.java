package io.handoff.server.util;

import java.time.Duration;

/**
 * A line for failures that come in floods (a paused store fails every resume, a request a device
 * can send at will fails each time), logged at most once per interval for the node, with how many
 * went unlogged since: never one line per failure. Thread-safe.
 */
public final class LogEvery {
  private final long everyNanos;
  private boolean logged; // guarded by this
  private long loggedAt; // guarded by this; nanoTime of the last line logged
  private long unlogged; // guarded by this; failures since then, not logged

  public LogEvery(Duration every) {
    this.everyNanos = every.toNanos();
  }

  /**
   * A failure at {@code nowNanos} (monotonic): null if it is not to be logged (counted for the next
   * line), else the suffix of its line, {@code " (and N more since the last such line)"} or empty.
   */
  public String admit(long nowNanos) {
    long skipped;
    synchronized (this) {
      if (logged && nowNanos - loggedAt < everyNanos) {
        unlogged++;
        return null;
      }
      skipped = unlogged;
      logged = true;
      loggedAt = nowNanos;
      unlogged = 0;
    }
    return skipped == 0 ? "" : " (and " + skipped + " more since the last such line)";
  }
}
