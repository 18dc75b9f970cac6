package io.handoff.server.transport;

import io.handoff.server.Scheduler;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * One heartbeat timer per event loop instead of one per connection: the loop's upgraded connections
 * are kept in an intrusive list (links in the connections themselves, no allocation per entry), and
 * a task every quarter of the heartbeat interval asks each whether it has been silent too long (it
 * pings after one interval and closes after two). The timer stops at the first tick that finds the
 * list empty, not when the last connection leaves: in a reconnect storm every connection of the
 * loop leaves at once, and cancelling the timer then took branches the steady state never takes
 * (here and in the event loop's own scheduled-task queue, left empty), which sent their compiled
 * code back to the interpreter for the storm. Time and timer come from the node's {@link
 * Scheduler}. Only the event loop's own thread touches its instance.
 */
final class Heartbeats {
  private static final FastThreadLocal<Heartbeats> PER_LOOP =
      new FastThreadLocal<>() {
        @Override
        protected Heartbeats initialValue() {
          return new Heartbeats();
        }
      };

  private ConnectionHandler head;
  private int size;
  private Future<?> timer;
  private EventLoop loop;
  private Scheduler time;
  private long tickNanos;
  private long deadline;

  /** The instance of the calling event-loop thread. */
  static Heartbeats current() {
    return PER_LOOP.get();
  }

  void add(ConnectionHandler s, EventLoop loop, long intervalNanos, Scheduler time) {
    s.hbNext = head;
    s.hbPrev = null;
    if (head != null) {
      head.hbPrev = s;
    }
    head = s;
    size++;
    if (timer == null) {
      this.loop = loop;
      this.time = time;
      this.tickNanos = Math.max(TimeUnit.MILLISECONDS.toNanos(10), intervalNanos / 4);
      deadline = time.nanoTime() + tickNanos;
      arm();
    }
  }

  private void arm() {
    timer = time.scheduleAt(loop, this::tick, deadline);
  }

  void remove(ConnectionHandler s) {
    if (s.hbPrev == null && head != s) {
      return; // Not in the list.
    }
    if (s.hbPrev != null) {
      s.hbPrev.hbNext = s.hbNext;
    } else {
      head = s.hbNext;
    }
    if (s.hbNext != null) {
      s.hbNext.hbPrev = s.hbPrev;
    }
    s.hbPrev = null;
    s.hbNext = null;
    size--;
    // The timer is left to its next tick, which stops it if the list is still empty then.
  }

  private void tick() {
    long now = time.nanoTime();
    ConnectionHandler s = head;
    while (s != null) {
      ConnectionHandler next = s.hbNext; // The check may close s, which unlinks it.
      s.checkHeartbeat(now);
      s = next;
    }
    if (size == 0) {
      timer = null; // Stopped until the next add.
      return;
    }
    // Ticks keep to their grid (a tick after the last one was due, not after it ran), so a late
    // tick does not push the ones after it back; one that fell a whole tick behind starts afresh.
    deadline += tickNanos;
    if (deadline < now) {
      deadline = now + tickNanos;
    }
    arm();
  }

  int size() {
    return size;
  }
}
