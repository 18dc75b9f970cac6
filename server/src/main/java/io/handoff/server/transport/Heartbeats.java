package io.handoff.server.transport;

import io.handoff.server.Scheduler;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;
import java.util.Arrays;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * One heartbeat timer per event loop instead of one per connection: the loop's upgraded connections
 * are kept in an array (each knowing its place, so removal is a swap with the last and allocates
 * nothing), and a task every quarter of the heartbeat interval asks each whether it has been silent
 * too long (it pings after one interval and closes after two). Time and timer come from the node's
 * {@link Scheduler}. Only the event loop's own thread touches its instance.
 *
 * <p>Nothing here takes a branch in a reconnect storm that the steady state never takes: every
 * connection of the loop leaves at once and the first of the storm comes to an empty loop. A list
 * whose head went null there, and a timer stopped when the list emptied and started again by the
 * next add, each sent the compiled upgrade path back to the interpreter at the storm's first
 * connection, and had C2 compile it again while the storm ran. So the timer, once started, ticks
 * for as long as the loop runs (over an empty loop too: one task per tick per loop), and the array
 * keeps its length, bounded by the most connections the loop has held at once, a reference each.
 */
final class Heartbeats {
  private static final FastThreadLocal<Heartbeats> PER_LOOP =
      new FastThreadLocal<>() {
        @Override
        protected Heartbeats initialValue() {
          return new Heartbeats();
        }
      };
  private static final ConnectionHandler[] NONE = new ConnectionHandler[0];

  private ConnectionHandler[] members = NONE;
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
    if (size == members.length) {
      members = Arrays.copyOf(members, Math.max(16, size * 2));
    }
    members[size] = s;
    s.hbIndex = size;
    size++;
    if (timer == null) {
      // The loop's first connection: the timer starts and is never stopped.
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
    int i = s.hbIndex;
    if (i < 0) {
      return; // Not in the array.
    }
    size--;
    ConnectionHandler last = members[size];
    members[i] = last; // The last in s's place (s itself when it was the last).
    last.hbIndex = i;
    members[size] = null;
    s.hbIndex = -1;
  }

  private void tick() {
    long now = time.nanoTime();
    // From the end: a check that closes its connection and so removes it (at once or later) moves
    // the last one, already checked, into its place; none is skipped.
    for (int i = size - 1; i >= 0; i--) {
      members[i].checkHeartbeat(now);
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
