package io.handoff.loadtest;

import java.time.Duration;

/**
 * An open-loop schedule of writes at a fixed rate: write {@code i} (from 0) is due at {@code start
 * + i / rate}, whatever happened to the writes before it. Latency is measured from these intended
 * times, so a stall anywhere (server, network, the load tester's own threads or GC) shows up as the
 * latency of every write that should have been sent during it, instead of being hidden by sending
 * later (coordinated omission). Immutable and thread-safe.
 */
final class RateSchedule {
  private final long startNanos;
  private final double ratePerSecond;
  private final long count;
  private final long lengthNanos;

  /**
   * @param startNanos {@link System#nanoTime()} at which write 0 is due
   * @param ratePerSecond writes per second, above 0
   * @param length how long the schedule runs: {@code floor(rate * length)} writes in all
   */
  RateSchedule(long startNanos, double ratePerSecond, Duration length) {
    if (!(ratePerSecond > 0) || Double.isInfinite(ratePerSecond)) {
      throw new IllegalArgumentException("rate must be above 0, was " + ratePerSecond);
    }
    if (length.isNegative()) {
      throw new IllegalArgumentException("length must not be negative, was " + length);
    }
    this.startNanos = startNanos;
    this.ratePerSecond = ratePerSecond;
    this.lengthNanos = length.toNanos();
    // The epsilon keeps 0.29/s over 100 s at 29 writes, not 28 (0.29 * 100 = 28.999999999999996).
    this.count = (long) Math.floor(ratePerSecond * (lengthNanos / 1e9) + 1e-9);
  }

  /** How many writes the schedule holds. */
  long count() {
    return count;
  }

  /** When write 0 is due. */
  long startNanos() {
    return startNanos;
  }

  /** When the schedule ends: start plus its length. */
  long endNanos() {
    return startNanos + lengthNanos;
  }

  /** The intended send time of write {@code i}, as {@link System#nanoTime()}. */
  long intendedNanos(long i) {
    return startNanos + Math.round(i * 1e9 / ratePerSecond);
  }

  /**
   * How many writes are due at {@code nowNanos}: the number of writes whose intended time is at or
   * before it, at most {@link #count()}.
   */
  long dueBy(long nowNanos) {
    if (nowNanos < startNanos || count == 0) {
      return 0;
    }
    long k = (long) Math.floor((nowNanos - startNanos) * ratePerSecond / 1e9) + 1;
    k = Math.min(Math.max(k, 0), count);
    // The estimate can be one off either way where rounding in intendedNanos decides.
    while (k > 0 && intendedNanos(k - 1) > nowNanos) {
      k--;
    }
    while (k < count && intendedNanos(k) <= nowNanos) {
      k++;
    }
    return k;
  }

  @Override
  public String toString() {
    return "RateSchedule{" + ratePerSecond + "/s, " + count + " writes}";
  }
}
