package io.handoff.loadtest;

import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Submits the writes of a {@link RateSchedule} at their intended times. Write {@code i} goes to
 * user {@code i % users}, from device slot {@code (i / users) % devices}, to document {@code (i /
 * (users * devices)) % documents}: consecutive writes go to different users, and every device of a
 * user writes in turn. When it falls behind (a GC pause, a busy CPU) it submits the overdue writes
 * at once, each still carrying its own intended time.
 *
 * <p>Where: each event loop submits the writes of its own devices (lean connections or Java
 * clients, see {@link Fleet}) from a timer task of its own, so a write costs no thread hand-off and
 * no wake-up beyond the loop's timer.
 */
final class WriteScheduler {
  private final RateSchedule schedule;
  private final Fleet fleet;
  private final int payloadBytes;
  private final int documents;
  private final Stats stats;
  private volatile boolean stopped;
  private CountDownLatch done;

  WriteScheduler(RateSchedule schedule, Fleet fleet, int payloadBytes, int documents, Stats stats) {
    this.schedule = schedule;
    this.fleet = fleet;
    this.payloadBytes = payloadBytes;
    this.documents = documents;
    this.stats = stats;
  }

  /** Starts submitting, on the devices' event loops. */
  void start() {
    List<EventLoop> loops = new ArrayList<>();
    for (int i = 0; i < fleet.size(); i++) {
      EventLoop loop = fleet.device(i).loop();
      if (!loops.contains(loop)) {
        loops.add(loop);
      }
    }
    done = new CountDownLatch(loops.size());
    for (EventLoop loop : loops) {
      loop.execute(new OnLoop(loop));
    }
  }

  /** Waits until every write was submitted, or {@code millis} passed; true if all were. */
  boolean join(long millis) throws InterruptedException {
    return done.await(millis, TimeUnit.MILLISECONDS);
  }

  /** Stops submitting; writes already submitted go on. Any thread. */
  void stop() {
    stopped = true;
  }

  private Device writer(long i) {
    long users = fleet.users();
    return fleet.device((int) (i % users), (int) ((i / users) % fleet.devicesPerUser()));
  }

  private void submit(long i, Device writer) {
    int doc = (int) ((i / ((long) fleet.users() * fleet.devicesPerUser())) % documents);
    stats.sent.increment();
    writer.write(doc, schedule.intendedNanos(i), payloadBytes);
  }

  /** The writes of one event loop's devices, submitted on that loop; re-arms itself. */
  private final class OnLoop implements Runnable {
    private final EventLoop loop;
    // The next write of the schedule this task has not looked at.
    private long next;

    OnLoop(EventLoop loop) {
      this.loop = loop;
    }

    @Override
    public void run() {
      long count = schedule.count();
      long due = Math.min(count, schedule.dueBy(System.nanoTime()));
      for (; next < due && !stopped; next++) {
        Device writer = writer(next);
        if (writer.loop() == loop) {
          submit(next, writer);
        }
      }
      while (next < count && writer(next).loop() != loop) {
        next++;
      }
      if (next >= count || stopped) {
        done.countDown();
        return;
      }
      long wait = schedule.intendedNanos(next) - System.nanoTime();
      loop.schedule(this, Math.max(0, wait), TimeUnit.NANOSECONDS);
    }
  }
}
