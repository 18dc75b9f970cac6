package io.handoff.server;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A node's time that only moves when a test says so: timers are due by this clock and run, on their
 * executors, when {@link #advance} passes their deadline. One per node, as gRPC's FakeClock.
 * Thread-safe.
 *
 * <p>{@link #advance} is deterministic: time moves in steps, to each due timer's deadline in turn;
 * at each step the timers due are handed to their executors and {@code advance} waits until every
 * one of them has run before it looks for the next due timer. So when {@code advance} returns,
 * every timer due by the new time has run, including those set by a task that ran during the same
 * call (a zero-delay or short re-arm, a chain of ticks), and each task read the time of its own
 * deadline.
 *
 * <ul>
 *   <li>A task that does not finish within 30 s fails {@code advance} with an {@link
 *       AssertionError}, never a silent pass; a task that sets itself again for the same instant
 *       without end fails it too.
 *   <li>Called on an executor's own thread (a Netty event loop, or one of a Netty group's, whose
 *       {@code inEventLoop()} is true; for a plain executor, a thread that ran one of this clock's
 *       tasks for it), {@code advance} runs that executor's due timers there instead of waiting for
 *       the thread it is on.
 *   <li>A timer whose executor is shut down is dropped: it rejected the task, or terminated before
 *       running it.
 *   <li>A timer set by work that is not one of this clock's tasks (a frame read, a store callback)
 *       is seen by the first step that looks after it is set: a test waits for that work first.
 * </ul>
 */
public final class FakeScheduler implements Scheduler {
  /** The steps one advance may take at one instant before a self-renewing timer fails it. */
  private static final int MAX_STEPS_AT_ONE_INSTANT = 10_000;

  private final MutableClock clock;
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();

  /** Threads seen running this clock's tasks, by executor: advance on one runs them there. */
  private final ConcurrentHashMap<ScheduledExecutorService, Set<Thread>> threads =
      new ConcurrentHashMap<>();

  private long nanos;
  private long seq;
  private volatile Duration taskWait = Duration.ofSeconds(30);

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

  /** How long {@link #advance} waits for a due task before it fails (30 s unless set). */
  FakeScheduler waitingForTasksAtMost(Duration wait) {
    taskWait = wait;
    return this;
  }

  /**
   * Moves time forward by {@code d}, in steps to each due timer's deadline, and returns once every
   * timer due by then has run on its executor, including timers those tasks set that are due by
   * then too. See the class comment for the waits and where a task runs.
   */
  public void advance(Duration d) {
    long end;
    synchronized (this) {
      end = nanos + d.toNanos();
    }
    long instant = Long.MIN_VALUE;
    int steps = 0;
    while (true) {
      List<Timer> due = new ArrayList<>();
      long now;
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
        now = nanos;
      }
      if (now != instant) {
        instant = now;
        steps = 0;
      } else if (++steps > MAX_STEPS_AT_ONE_INSTANT) {
        throw new AssertionError(
            "timers kept setting themselves for the same instant: "
                + MAX_STEPS_AT_ONE_INSTANT
                + " steps at "
                + now
                + " ns");
      }
      List<Handed> handed = new ArrayList<>();
      for (Timer t : due) {
        if (t.task.isCancelled()) {
          continue;
        }
        if (onThreadOf(t.executor)) {
          t.task.run(); // Waiting for this thread would wait for ever.
          continue;
        }
        CountDownLatch ran = new CountDownLatch(1);
        try {
          t.executor.execute(
              () -> {
                threads
                    .computeIfAbsent(t.executor, e -> ConcurrentHashMap.newKeySet())
                    .add(Thread.currentThread());
                try {
                  t.task.run();
                } finally {
                  ran.countDown();
                }
              });
          handed.add(new Handed(t.executor, ran));
        } catch (RejectedExecutionException stopped) {
          // The executor is gone (a stopped node): its timers with it.
        }
      }
      for (Handed h : handed) {
        awaitRun(h, now);
      }
    }
  }

  private boolean onThreadOf(ScheduledExecutorService executor) {
    if (executor instanceof EventExecutorGroup group) { // An event loop is a group of one.
      for (EventExecutor loop : group) {
        if (loop.inEventLoop()) {
          return true;
        }
      }
      return false;
    }
    Set<Thread> seen = threads.get(executor);
    return seen != null && seen.contains(Thread.currentThread());
  }

  /** Waits until {@code h}'s task ran, or its executor terminated without running it (dropped). */
  private void awaitRun(Handed h, long at) {
    Duration wait = taskWait;
    long deadline = System.nanoTime() + wait.toNanos();
    boolean interrupted = false;
    try {
      while (true) {
        try {
          if (h.ran.await(10, TimeUnit.MILLISECONDS)) {
            return;
          }
        } catch (InterruptedException e) {
          interrupted = true;
        }
        if (h.executor.isTerminated()) {
          return;
        }
        if (System.nanoTime() - deadline > 0) {
          throw new AssertionError(
              "a timer due at "
                  + at
                  + " ns has not finished within "
                  + wait
                  + " on "
                  + h.executor
                  + " (blocked, or waiting for the thread that called advance?)");
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void moveTo(long to) {
    clock.advance(Duration.ofMillis(to / 1_000_000 - nanos / 1_000_000));
    nanos = to;
  }

  private record Handed(ScheduledExecutorService executor, CountDownLatch ran) {}

  private record Timer(
      long deadline, long seq, ScheduledExecutorService executor, FutureTask<Void> task)
      implements Comparable<Timer> {
    @Override
    public int compareTo(Timer o) {
      return deadline != o.deadline ? Long.compare(deadline, o.deadline) : Long.compare(seq, o.seq);
    }
  }
}
