package io.handoff.server;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A node's time that only moves when a test says so: timers are due by this clock and run, on their
 * executors, when {@link #advance} passes their deadline. One per node, as gRPC's FakeClock.
 * Thread-safe.
 */
public final class FakeScheduler implements Scheduler {
  private final MutableClock clock;
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private long nanos;
  private long seq;

  public FakeScheduler(MutableClock clock) {
    this.clock = clock;
  }

  /** Starts at the real time now, rounded down to a whole second (as JWT times are). */
  public FakeScheduler() {
    this(new MutableClock(System.currentTimeMillis() / 1000 * 1000));
  }

  public MutableClock mutableClock() {
    return clock;
  }

  @Override
  public Clock clock() {
    return clock;
  }

  @Override
  public synchronized long nanoTime() {
    return nanos;
  }

  @Override
  public synchronized Future<?> schedule(
      ScheduledExecutorService executor, Runnable task, long delay, TimeUnit unit) {
    FutureTask<Void> f = new FutureTask<>(task, null);
    timers.add(new Timer(nanos + Math.max(0, unit.toNanos(delay)), seq++, executor, f));
    return f;
  }

  @Override
  public synchronized Future<?> scheduleAt(
      ScheduledExecutorService executor, Runnable task, long deadlineNanos) {
    FutureTask<Void> f = new FutureTask<>(task, null);
    timers.add(new Timer(Math.max(nanos, deadlineNanos), seq++, executor, f));
    return f;
  }

  /** Timers set and not yet due. */
  public synchronized int pending() {
    timers.removeIf(t -> t.task.isCancelled());
    return timers.size();
  }

  /**
   * Moves time forward by {@code d} and hands every timer due by then to its executor, in deadline
   * order (time moves in steps, to each deadline in turn). The tasks run asynchronously on their
   * executors; a timer one of them sets is due from the time it is set.
   */
  public void advance(Duration d) {
    long end;
    synchronized (this) {
      end = nanos + d.toNanos();
    }
    while (true) {
      List<Timer> due = new ArrayList<>();
      synchronized (this) {
        Timer first = timers.peek();
        if (first == null || first.deadline > end) {
          moveTo(end);
          return;
        }
        moveTo(first.deadline);
        while (!timers.isEmpty() && timers.peek().deadline <= nanos) {
          due.add(timers.poll());
        }
      }
      for (Timer t : due) {
        if (!t.task.isCancelled()) {
          try {
            t.executor.execute(t.task);
          } catch (RejectedExecutionException stopped) {
            // The executor is gone (a stopped node): its timers with it.
          }
        }
      }
    }
  }

  private void moveTo(long to) {
    clock.advance(Duration.ofMillis(to / 1_000_000 - nanos / 1_000_000));
    nanos = to;
  }

  private record Timer(
      long deadline, long seq, ScheduledExecutorService executor, FutureTask<Void> task)
      implements Comparable<Timer> {
    @Override
    public int compareTo(Timer o) {
      return deadline != o.deadline ? Long.compare(deadline, o.deadline) : Long.compare(seq, o.seq);
    }
  }
}
