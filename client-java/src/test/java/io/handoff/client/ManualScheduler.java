package io.handoff.client;

import java.util.ArrayList;
import java.util.List;

/** A scheduler whose tasks run only when the test says so. */
final class ManualScheduler implements Scheduler {

  static final class Scheduled implements Task {
    final Runnable task;
    final long delayNanos;
    boolean cancelled;

    Scheduled(Runnable task, long delayNanos) {
      this.task = task;
      this.delayNanos = delayNanos;
    }

    @Override
    public void cancel() {
      cancelled = true;
    }
  }

  final List<Scheduled> tasks = new ArrayList<>();

  @Override
  public Task schedule(Runnable task, long delayNanos) {
    Scheduled s = new Scheduled(task, delayNanos);
    tasks.add(s);
    return s;
  }

  /** Tasks scheduled and neither run nor cancelled. */
  List<Scheduled> pending() {
    return tasks.stream().filter(t -> !t.cancelled).toList();
  }

  /** Runs every pending task (not those they schedule). */
  void runPending() {
    List<Scheduled> due = pending();
    tasks.removeAll(due);
    due.forEach(t -> t.task.run());
  }

  /**
   * Runs the pending tasks due within {@code nanos} of being scheduled (not those they schedule).
   */
  void runDueWithin(long nanos) {
    List<Scheduled> due = pending().stream().filter(t -> t.delayNanos <= nanos).toList();
    tasks.removeAll(due);
    due.forEach(t -> t.task.run());
  }
}
