package io.handoff.server.transport;

import io.handoff.server.session.SessionHandler;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One heartbeat timer per event loop instead of one per connection: the loop's live sessions are
 * kept in an intrusive list (links in the sessions themselves, no allocation per entry), and a task
 * every quarter of the heartbeat interval asks each whether it has been silent too long (it pings
 * after one interval and closes after two). The timer stops when the list empties. Only the event
 * loop's own thread touches its instance.
 */
public final class Heartbeats {
  private static final FastThreadLocal<Heartbeats> PER_LOOP =
      new FastThreadLocal<>() {
        @Override
        protected Heartbeats initialValue() {
          return new Heartbeats();
        }
      };

  private SessionHandler head;
  private int size;
  private ScheduledFuture<?> timer;

  /** The instance of the calling event-loop thread. */
  public static Heartbeats current() {
    return PER_LOOP.get();
  }

  public void add(SessionHandler s, EventLoop loop, long intervalNanos) {
    s.hbNext = head;
    s.hbPrev = null;
    if (head != null) {
      head.hbPrev = s;
    }
    head = s;
    size++;
    if (timer == null) {
      long tick = Math.max(TimeUnit.MILLISECONDS.toNanos(10), intervalNanos / 4);
      timer = loop.scheduleAtFixedRate(this::tick, tick, tick, TimeUnit.NANOSECONDS);
    }
  }

  public void remove(SessionHandler s) {
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
    if (--size == 0 && timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  private void tick() {
    long now = System.nanoTime();
    SessionHandler s = head;
    while (s != null) {
      SessionHandler next = s.hbNext; // The check may close s, which unlinks it.
      s.checkHeartbeat(now);
      s = next;
    }
  }

  public int size() {
    return size;
  }
}
