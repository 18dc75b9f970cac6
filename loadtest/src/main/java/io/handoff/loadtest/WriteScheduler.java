package io.handoff.loadtest;

import io.netty.channel.EventLoop;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Submits the writes of a {@link RateSchedule} at their intended times. Write {@code i} goes to
 * user {@code i % users}, from device slot {@code (i / users) % devices}, to document {@code (i /
 * (users * devices)) % documents}: consecutive writes go to different users, and every device of a
 * user writes in turn. When it falls behind (a GC pause, a busy CPU) it submits the overdue writes
 * at once, each still carrying its own intended time.
 *
 * <p>Where: with lean devices ({@link LeanLink}) each event loop submits the writes of its own
 * devices from a timer task of its own, so a write costs no thread hand-off and no wake-up beyond
 * the loop's timer; with Java clients one thread submits them all and each client hops onto its
 * loop.
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

  /** Starts submitting, on the devices' event loops or from a thread of its own. */
  void start() {
    List<EventLoop> loops = new ArrayList<>();
    for (int i = 0; i < fleet.size(); i++) {
      EventLoop loop = fleet.device(i).loop();
      if (loop == null) {
        loops = null;
        break;
      }
      if (!loops.contains(loop)) {
        loops.add(loop);
      }
    }
    if (loops == null) {
      done = new CountDownLatch(1);
      Thread t = new Thread(this::fromThread, "loadtest-writer");
      t.setDaemon(true);
      t.start();
    } else {
      done = new CountDownLatch(loops.size());
      for (EventLoop loop : loops) {
        loop.execute(new OnLoop(loop));
      }
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

  private void fromThread() {
    long count = schedule.count();
    long i = 0;
    while (i < count && !stopped) {
      long due = schedule.dueBy(System.nanoTime());
      for (; i < due && !stopped; i++) {
        submit(i, writer(i));
      }
      if (i < count) {
        long wait = schedule.intendedNanos(i) - System.nanoTime();
        if (wait > 0) {
          LockSupport.parkNanos(wait);
        }
      }
    }
    done.countDown();
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
