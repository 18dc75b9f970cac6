package io.handoff.loadtest;

import java.util.concurrent.locks.LockSupport;

/**
 * Submits the writes of a {@link RateSchedule} at their intended times, from one thread. Write
 * {@code i} goes to user {@code i % users}, from device slot {@code (i / users) % devices}, to
 * document {@code (i / (users * devices)) % documents}: consecutive writes go to different users,
 * and every device of a user writes in turn. When the thread falls behind (a GC pause, a busy CPU)
 * it submits the overdue writes at once, each still carrying its own intended time.
 */
final class WriteScheduler implements Runnable {
  private final RateSchedule schedule;
  private final Fleet fleet;
  private final int payloadBytes;
  private final int documents;
  private final Stats stats;
  private volatile boolean stopped;

  WriteScheduler(RateSchedule schedule, Fleet fleet, int payloadBytes, int documents, Stats stats) {
    this.schedule = schedule;
    this.fleet = fleet;
    this.payloadBytes = payloadBytes;
    this.documents = documents;
    this.stats = stats;
  }

  /** Stops submitting; writes already submitted go on. Any thread. */
  void stop() {
    stopped = true;
  }

  @Override
  public void run() {
    long count = schedule.count();
    long i = 0;
    while (i < count && !stopped) {
      long due = schedule.dueBy(System.nanoTime());
      for (; i < due && !stopped; i++) {
        submit(i);
      }
      if (i < count) {
        long wait = schedule.intendedNanos(i) - System.nanoTime();
        if (wait > 0) {
          LockSupport.parkNanos(wait);
        }
      }
    }
  }

  private void submit(long i) {
    long users = fleet.users();
    long devices = fleet.devicesPerUser();
    int user = (int) (i % users);
    int slot = (int) ((i / users) % devices);
    int doc = (int) ((i / (users * devices)) % documents);
    Device writer = fleet.device(user, slot);
    stats.sent.increment();
    writer.write(doc, Payload.encode(schedule.intendedNanos(i), writer.index, payloadBytes));
  }
}
