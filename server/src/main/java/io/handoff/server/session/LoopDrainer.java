package io.handoff.server.session;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.internal.ThreadExecutorMap;
import java.util.ArrayList;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater;
import org.jctools.queues.MpscUnboundedArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One event loop's outboxes that have something to deliver, drained by one task per burst: a write
 * fanned out to several devices on one loop costs that loop one task and at most one wake-up, not
 * one per device, and every outbox it drains is flushed once.
 *
 * <p>A burst handed over from another Netty event loop's thread (Lettuce's pub/sub thread with the
 * Redis engine, another server loop with the memory engine) wakes this loop once, when that thread
 * has finished what it is running: the wake-ups are held in a per-thread list and sent by a task
 * queued on the handing thread's own executor, which runs after the current batch of reads. So the
 * messages of one pub/sub read reach each loop as one task, however many users they are for, and
 * the loop does not wake up, drain one message and go back to sleep while the next is still being
 * decoded.
 *
 * <p>Bounded by construction: an outbox is in the queue at most once at a time (its own {@code
 * drainScheduled} flag guards the entry), so the queue never holds more entries than the loop has
 * connections; a held wake-up is one per loop and handing thread.
 *
 * <p>Threads: {@link #schedule} on any thread; {@link #run} on the loop.
 */
final class LoopDrainer implements Runnable {
  private static final Logger log = LoggerFactory.getLogger(LoopDrainer.class);
  private static final AtomicIntegerFieldUpdater<LoopDrainer> SCHEDULED =
      AtomicIntegerFieldUpdater.newUpdater(LoopDrainer.class, "scheduled");
  private static final FastThreadLocal<HeldWakeUps> HELD =
      new FastThreadLocal<>() {
        @Override
        protected HeldWakeUps initialValue() {
          return new HeldWakeUps();
        }
      };

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
   * Queues {@code outbox} for the loop's next drain task, submitting that task if none is pending
   * (from another event loop's thread: once that thread's current work is done). Throws {@link
   * RejectedExecutionException} if the loop is shut down.
   */
  void schedule(Outbox outbox) {
    ready.offer(outbox);
    if (SCHEDULED.compareAndSet(this, 0, 1)) {
      EventExecutor here = ThreadExecutorMap.currentExecutor();
      if (here == null || here == loop || here.isShuttingDown() || loop.isShuttingDown()) {
        loop.execute(this);
      } else {
        HELD.get().hold(this, here);
      }
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

  /**
   * The drain tasks one event loop's thread owes other loops, sent when its current work is done.
   * Thread-confined; holds at most one entry per loop of the node.
   */
  private static final class HeldWakeUps implements Runnable {
    private final ArrayList<LoopDrainer> held = new ArrayList<>(8);

    void hold(LoopDrainer drainer, EventExecutor here) {
      held.add(drainer);
      if (held.size() == 1) {
        try {
          here.execute(this);
        } catch (RejectedExecutionException shuttingDown) {
          run();
        }
      }
    }

    @Override
    public void run() {
      // Index loop: a wake-up added while this runs (a drainer's execute does not call back here)
      // is still sent.
      for (int i = 0; i < held.size(); i++) {
        LoopDrainer d = held.get(i);
        try {
          d.loop.execute(d);
        } catch (RejectedExecutionException stopped) {
          // That loop is gone (the node is stopping): its connections are closed with it.
          log.debug("no drain for a stopped event loop");
        }
      }
      held.clear();
    }
  }
}
