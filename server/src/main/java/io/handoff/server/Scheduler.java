package io.handoff.server;

import java.time.Clock;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A node's time: the one clock its parts read and the one place they set timers. Heartbeats, the
 * handshake limit, token expiry, offer expiry, the presence keeper, rate limits and the HTTP API
 * all take it from the node, so a test hands the node a fake one and moves time by hand instead of
 * waiting.
 *
 * <p>Thread-safe. A task runs on the executor it was scheduled for (a connection's event loop, or
 * the presence keeper's thread), never on the caller's thread.
 */
public interface Scheduler {
  /** The wall clock: timestamps, token and offer deadlines. */
  Clock clock();

  /** Monotonic nanoseconds, for intervals and rate limits; only differences mean anything. */
  long nanoTime();

  /** Runs {@code task} on {@code executor} after {@code delay}; cancel the future to drop it. */
  Future<?> schedule(ScheduledExecutorService executor, Runnable task, long delay, TimeUnit unit);

  /**
   * Runs {@code task} on {@code executor} once {@link #nanoTime()} reaches {@code deadlineNanos}
   * (at once if it has): for a timer that keeps its own rate, measured from the time it read rather
   * than from whenever it got to set the next one.
   */
  default Future<?> scheduleAt(
      ScheduledExecutorService executor, Runnable task, long deadlineNanos) {
    return schedule(executor, task, Math.max(0, deadlineNanos - nanoTime()), TimeUnit.NANOSECONDS);
  }

  /** The real clock and the executors' own timers. */
  static Scheduler system() {
    return Real.INSTANCE;
  }

  /** The real time. */
  final class Real implements Scheduler {
    private static final Real INSTANCE = new Real();
    private final Clock clock = Clock.systemUTC();

    private Real() {}

    @Override
    public Clock clock() {
      return clock;
    }

    @Override
    public long nanoTime() {
      return System.nanoTime();
    }

    @Override
    public Future<?> schedule(
        ScheduledExecutorService executor, Runnable task, long delay, TimeUnit unit) {
      return executor.schedule(task, delay, unit);
    }
  }
}
