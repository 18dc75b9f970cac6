package io.handoff.client;

import java.util.function.DoubleSupplier;

/**
 * Exponential backoff with full jitter: the n-th delay (n from 0) is uniformly random in {@code [0,
 * min(max, initial * 2^n))}. Not thread-safe; used on the event loop.
 */
final class Backoff {
  /** The longest {@code Retry-After} honoured: a longer one is taken as this (60 s). */
  static final long RETRY_AFTER_MAX_NANOS = 60_000_000_000L;

  private final long initialNanos;
  private final long maxNanos;
  private final DoubleSupplier random;
  private int attempt;

  /**
   * @param random returns a value in {@code [0, 1)}
   */
  Backoff(long initialNanos, long maxNanos, DoubleSupplier random) {
    this.initialNanos = initialNanos;
    this.maxNanos = maxNanos;
    this.random = random;
  }

  /** The delay before the next attempt; each call moves one attempt further. */
  long nextDelayNanos() {
    return nextDelayNanos(maxNanos);
  }

  /**
   * As {@link #nextDelayNanos()}, with the ceiling lowered to {@code capNanos} for this delay only
   * (a short wait after the store was unavailable); the count still moves one attempt further.
   */
  long nextDelayNanos(long capNanos) {
    long delay = delayNanos(attempt, capNanos);
    if (attempt < Integer.MAX_VALUE) {
      attempt++;
    }
    return delay;
  }

  /**
   * The wait before trying again after a refusal that asked for {@code retryAfterNanos} ({@code
   * Retry-After}): that long, at most {@link #RETRY_AFTER_MAX_NANOS}, plus a random extra of up to
   * half of it, so that devices refused together do not all come back at the same moment. The count
   * does not move.
   */
  long retryAfterNanos(long retryAfterNanos) {
    long wait = Math.min(Math.max(0, retryAfterNanos), RETRY_AFTER_MAX_NANOS);
    return wait + (long) (random.getAsDouble() * (wait / 2));
  }

  /** Starts over from the initial delay (after a successful connection). */
  void reset() {
    attempt = 0;
  }

  /** A jittered delay for the given attempt, without changing this backoff's own count. */
  long delayNanos(int attempt) {
    return delayNanos(attempt, maxNanos);
  }

  /** As {@link #delayNanos(int)}, never above {@code capNanos}. */
  long delayNanos(int attempt, long capNanos) {
    return (long) (random.getAsDouble() * Math.min(capNanos, ceilingNanos(attempt)));
  }

  /** The upper bound of the delay for the given attempt: {@code min(max, initial * 2^attempt)}. */
  long ceilingNanos(int attempt) {
    if (attempt >= 63 || initialNanos > (maxNanos >> attempt)) {
      return maxNanos;
    }
    return Math.min(maxNanos, initialNanos << attempt);
  }
}
