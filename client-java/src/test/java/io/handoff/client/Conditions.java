package io.handoff.client;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/** Waiting on a condition another thread makes true, with a bound. */
public final class Conditions {
  private Conditions() {}

  /** Returns once {@code condition} holds; fails the test if it does not within {@code bound}. */
  public static void await(String what, BooleanSupplier condition, Duration bound) {
    await(what, condition, bound, Duration.ofMillis(1));
  }

  /** As {@link #await(String, BooleanSupplier, Duration)}, asking every {@code poll}. */
  public static void await(String what, BooleanSupplier condition, Duration bound, Duration poll) {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("not within " + bound + ": " + what);
      }
      LockSupport.parkNanos(poll.toNanos());
    }
  }
}
