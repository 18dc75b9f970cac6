package io.handoff.loadtest;

import java.time.Duration;

/**
 * An open-loop schedule of writes at a fixed rate: write {@code i} (from 0) is due at {@code start
 * + i / rate}, whatever happened to the writes before it. Latency is measured from these intended
 * times, so a stall anywhere (server, network, the load tester's own threads or GC) shows up as the
 * latency of every write that should have been sent during it, instead of being hidden by sending
 * later (coordinated omission). Immutable and thread-safe.
 *
 * <p>With a tick, writes are due in groups: write {@code i} is due at the first tick (a multiple of
 * the tick after the start) at or after {@code start + i / rate}, as a driver whose timer fires
 * once per tick sends everything that came due since the last one. The rate is the same; each
 * tick's writes leave together, and latency is measured from the tick.
 */
final class RateSchedule {
  private final long startNanos;
  private final double ratePerSecond;
  private final long count;
  private final long lengthNanos;
  private final long tickNanos;

  /**
   * @param startNanos {@link System#nanoTime()} at which write 0 is due
   * @param ratePerSecond writes per second, above 0
   * @param length how long the schedule runs: {@code floor(rate * length)} writes in all
   */
  RateSchedule(long startNanos, double ratePerSecond, Duration length) {
    this(startNanos, ratePerSecond, length, Duration.ZERO);
  }

  /**
   * @param tick how often writes are due together; zero for each write at its own time
   */
  RateSchedule(long startNanos, double ratePerSecond, Duration length, Duration tick) {
    if (!(ratePerSecond > 0) || Double.isInfinite(ratePerSecond)) {
      throw new IllegalArgumentException("rate must be above 0, was " + ratePerSecond);
    }
    if (length.isNegative()) {
      throw new IllegalArgumentException("length must not be negative, was " + length);
    }
    this.startNanos = startNanos;
    this.ratePerSecond = ratePerSecond;
    if (tick.isNegative()) {
      throw new IllegalArgumentException("tick must not be negative, was " + tick);
    }
    this.lengthNanos = length.toNanos();
    this.tickNanos = tick.toNanos();
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
    long offset = Math.round(i * 1e9 / ratePerSecond);
    if (tickNanos > 0) {
      offset = (offset + tickNanos - 1) / tickNanos * tickNanos;
    }
    return startNanos + offset;
  }

  /**
   * How many writes are due at {@code nowNanos}: the number of writes whose intended time is at or
   * before it, at most {@link #count()}.
   */
  long dueBy(long nowNanos) {
    if (nowNanos < startNanos || count == 0) {
      return 0;
    }
    long elapsed = nowNanos - startNanos;
    if (tickNanos > 0) {
      elapsed = elapsed / tickNanos * tickNanos;
    }
    long k = (long) Math.floor(elapsed * ratePerSecond / 1e9) + 1;
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
    return "RateSchedule{" + ratePerSecond + "/s, " + count + " writes, tick " + tickNanos + " ns}";
  }
}
