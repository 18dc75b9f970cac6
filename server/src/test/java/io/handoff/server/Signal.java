package io.handoff.server;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A condition a test waits on: whoever changes the state it depends on calls {@link #fire()}, and
 * {@link #await} re-checks the condition on every fire, until a bound. It also re-checks every
 * {@link #RECHECK}: a condition may turn on a change that fires nothing (a store connection
 * reopening turns {@code engine.healthy()} true without a health change), and a missed fire must
 * cost a moment, not the whole bound.
 */
public final class Signal {
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

  /** The longest wait between two checks of the condition. */
  static final Duration RECHECK = Duration.ofMillis(50);

  /** Wakes every waiter to re-check its condition. */
  public synchronized void fire() {
    notifyAll();
  }

  /** Returns once {@code condition} holds; fails the test after {@code timeout}. */
  public synchronized void await(String what, BooleanSupplier condition, Duration timeout)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new AssertionError("timed out after " + timeout + " waiting for: " + what);
      }
      TimeUnit.NANOSECONDS.timedWait(this, Math.min(left, RECHECK.toNanos()));
    }
  }

  public void await(String what, BooleanSupplier condition) throws InterruptedException {
    await(what, condition, DEFAULT_TIMEOUT);
  }
}
