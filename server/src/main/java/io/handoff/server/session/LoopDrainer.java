package io.handoff.server.session;

import io.netty.channel.EventLoop;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import org.jctools.queues.MpscUnboundedArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One event loop's outboxes that have something to deliver, drained by one task per burst: a write
 * fanned out to several devices on one loop costs that loop one task and at most one wake-up, not
 * one per device, and every outbox it drains is flushed once.
 *
 * <p>Bounded by construction: an outbox is in the queue at most once at a time (its own {@code
 * drainScheduled} flag guards the entry), so the queue never holds more entries than the loop has
 * connections.
 *
 * <p>Threads: {@link #schedule} on any thread; {@link #run} on the loop.
 */
final class LoopDrainer implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(LoopDrainer.class);
  private static final AtomicIntegerFieldUpdater<LoopDrainer> SCHEDULED =
      AtomicIntegerFieldUpdater.newUpdater(LoopDrainer.class, "scheduled");

  private final EventLoop loop;
  private final MpscUnboundedArrayQueue<Outbox> ready = new MpscUnboundedArrayQueue<>(64);
  private volatile int scheduled;

  LoopDrainer(EventLoop loop) {
    this.loop = loop;
  }

  EventLoop loop() {
    return loop;
  }

  /**
   * Queues {@code outbox} for the loop's next drain task, submitting that task if none is pending.
   * Throws {@link java.util.concurrent.RejectedExecutionException} if the loop is shut down.
   */
  void schedule(Outbox outbox) {
    ready.offer(outbox);
    if (SCHEDULED.compareAndSet(this, 0, 1)) {
      loop.execute(this);
    }
  }

  /** Drains the outboxes queued so far; those queued while it runs get the next task. */
  @Override
  public void run() {
    SCHEDULED.set(this, 0);
    // Only what was there at the start: an outbox that re-queues itself (more than a batch waiting)
    // waits for the next task, so the loop's sockets get their turn in between.
    for (int n = ready.size(); n > 0; n--) {
      Outbox o = ready.poll();
      if (o == null) {
        break;
      }
      try {
        o.drain();
      } catch (RuntimeException e) {
        // One connection's failure must not strand the others queued behind it.
        log.warn("delivery to a connection failed", e);
      }
    }
  }
}
