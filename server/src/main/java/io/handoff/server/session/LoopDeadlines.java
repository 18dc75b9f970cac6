package io.handoff.server.session;

import io.handoff.server.Scheduler;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;
import java.util.Arrays;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One event loop's armed {@link Deadline}s in a binary heap (earliest first, each knowing its
 * place, so disarming is O(log n) and allocates nothing), with one timer on the node's {@link
 * Scheduler} for the earliest. When it fires, every deadline due by then runs, in order, and the
 * timer is set for the next, if any. Only the event loop's own thread touches its instance; the
 * heap grows with the loop's connections (a slot per deadline a connection holds: its token keeper
 * and its write tracker, two at most) and keeps its length (see {@link #disarm}).
 */
final class LoopDeadlines {
  private static final Logger log = LoggerFactory.getLogger(LoopDeadlines.class);
  private static final FastThreadLocal<LoopDeadlines> PER_LOOP =
      new FastThreadLocal<>() {
        @Override
        protected LoopDeadlines initialValue() {
          return new LoopDeadlines();
        }
      };
  private static final Deadline[] NONE = new Deadline[0];
  // Always in the place after the last entry: a child due never, so that a sift meets a missing
  // right child as a later one, not as a branch for the heap's edge (see removeAt).
  private static final Deadline END =
      new Deadline() {
        @Override
        protected void expired() {}
      };

  static {
    END.dueNanos = Long.MAX_VALUE;
  }

  private Deadline[] heap = NONE;
  private int size;
  private EventLoop loop;
  private Scheduler time;
  private Future<?> timer;
  private long timerDueNanos;

  /** The instance of the calling event-loop thread. */
  static LoopDeadlines current() {
    return PER_LOOP.get();
  }

  /** Arms {@code d} to run {@code delayNanos} from now, replacing its earlier time if armed. */
  void arm(Deadline d, long delayNanos, EventLoop loop, Scheduler time) {
    // Set on every arm, not only on an empty heap's first: an empty heap is a branch the steady
    // state never takes and a reconnect storm takes at its first connection on each loop, which
    // sent the compiled upgrade path (into which this is inlined) back to the interpreter. The loop
    // is this instance's own; the node's time is the same for every connection of it.
    this.loop = loop;
    this.time = time;
    long now = this.time.nanoTime();
    if (d.heapIndex >= 0) {
      removeAt(d.heapIndex);
    }
    d.dueNanos = now + Math.max(0, delayNanos);
    if (size + 1 >= heap.length) {
      heap = Arrays.copyOf(heap, Math.max(16, size * 2));
    }
    size++;
    heap[size] = END;
    up(size - 1, d);
    rearm(now);
  }

  /**
   * Disarms {@code d} if it is armed. Nothing else: the timer stays set (when it fires with nothing
   * due it sets itself for the next deadline, or for none), and the array keeps its length. In a
   * reconnect storm every connection of the loop closes at once; cancelling the timer as the heap
   * emptied and shrinking the array on the way took branches the steady state never takes, and each
   * sent compiled code back to the interpreter at the worst moment: the whole close path, and the
   * event loop's own run loop through a scheduled-task queue left empty. The array is bounded by
   * the most deadlines the loop has held armed at once (two per connection at most), a reference
   * each.
   */
  void disarm(Deadline d) {
    if (d.heapIndex >= 0) {
      removeAt(d.heapIndex);
    }
  }

  int size() {
    return size;
  }

  private void fire() {
    timer = null;
    long now = time.nanoTime();
    while (size > 0 && heap[0].dueNanos <= now) {
      Deadline d = heap[0];
      removeAt(0);
      try {
        d.expired();
      } catch (RuntimeException e) {
        log.warn("a connection's timer failed", e);
      }
    }
    if (size > 0) {
      rearm(time.nanoTime());
    }
  }

  /**
   * Sets the timer for the earliest deadline, unless it is set for that time or earlier already (a
   * timer left early by a disarmed deadline fires, finds nothing due, and comes here).
   */
  private void rearm(long now) {
    long due = heap[0].dueNanos;
    if (timer != null && timerDueNanos <= due) {
      return;
    }
    cancelTimer();
    timerDueNanos = due;
    timer = time.schedule(loop, this::fire, Math.max(0, due - now), TimeUnit.NANOSECONDS);
  }

  private void cancelTimer() {
    if (timer != null) {
      timer.cancel(false);
      timer = null;
    }
  }

  /**
   * Takes the entry at {@code i} out: the last entry moves into its place and is sifted there.
   * Without a branch for the heap's edges: the last place itself (the last entry sifted into its
   * own place stays there, and the place is then the end's), and a parent with one child (its
   * missing right child is {@link #END}). The steady state, thousands of entries deep, almost never
   * meets them; a reconnect storm, which empties the heap, meets them all the time, and a branch
   * compiled as never taken sent the whole close path it is inlined into back to the interpreter in
   * the storm (JFR showed both).
   */
  private void removeAt(int i) {
    Deadline removed = heap[i];
    size--;
    Deadline moved = heap[size];
    heap[size] = END; // Before the sift, which reads it as a missing child.
    down(i, moved);
    if (heap[i] == moved) {
      up(i, moved);
    }
    heap[size] = END; // Again, when the last entry was sifted into its own place.
    removed.heapIndex = -1;
  }

  /** Places {@code d} at {@code i} or, while it is earlier than its parent, above. */
  private void up(int i, Deadline d) {
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      Deadline p = heap[parent];
      if (p.dueNanos <= d.dueNanos) {
        break;
      }
      heap[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    heap[i] = d;
    d.heapIndex = i;
  }

  /** Places {@code d} at {@code i} or, while it is later than a child, below. */
  private void down(int i, Deadline d) {
    while (true) {
      int child = 2 * i + 1;
      if (child >= size) {
        break;
      }
      if (heap[child + 1].dueNanos < heap[child].dueNanos) { // END past the last entry.
        child++;
      }
      if (heap[child].dueNanos >= d.dueNanos) {
        break;
      }
      heap[i] = heap[child];
      heap[i].heapIndex = i;
      i = child;
    }
    heap[i] = d;
    d.heapIndex = i;
  }
}
