package io.handoff.server.session;

import io.netty.util.internal.PlatformDependent;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's one budget for every byte queued towards devices, heap and direct: what waits in the
 * connections' outboxes (document events not yet drained, frames held while the socket was full)
 * plus what sits in Netty's outbound buffers of connections that are backed up. Each connection
 * keeps its own bound too ({@code maxQueuedBytes}); this one keeps the sum of many slow devices
 * from taking the node's memory. Past the budget, the slowest consumers (most bytes held, then the
 * ones backed up longest) are closed with {@code SLOW_CONSUMER} until the node is back under 90 %
 * of it; a connection holding less than {@link #MIN_EVICTABLE_BYTES} is never closed for the
 * budget.
 *
 * <p>Counting: outboxes add and subtract their bytes on a {@link LongAdder} (no lock, no shared
 * cache line per frame; a drain subtracts once per batch). A document event counts {@link
 * #EVENT_WEIGHT} times its serialized size for every connection that holds it: it is held twice
 * (the parsed delta and its encoded frame), and shared by every holder, so the count is the truth
 * when one device holds it and an upper bound when several do. Netty's buffered bytes are read
 * ({@code totalPendingWriteBytes}, a volatile) only for the connections that were seen backed up (a
 * queue past {@link #WATCH_BYTES}, or a socket that stopped taking writes); a writable connection
 * holds at most the write buffer's high-water mark there, which is not counted.
 *
 * <p>The decision is off the per-frame path: a timer thread ({@code handoff-budget-NODE}) sums and
 * chooses every {@link #SWEEP_MILLIS} ms, and at once when an outbox's queue crosses another {@link
 * #WATCH_BYTES} (a nudge: one flag, at most one sweep waiting), and asks the chosen connections to
 * close (each hops onto its own event loop). Nothing else is ever closed for memory: not the
 * store's connections, not a connection that keeps up.
 */
public final class QueueBudget implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(QueueBudget.class);

  /**
   * The share of the smaller of the heap and the direct-memory limit given to queued bytes when no
   * budget is configured. Queued events live on the heap and socket buffers in direct memory, and
   * either may take all of it; the other three quarters are for sessions, documents, the store
   * client's and Netty's read buffers, the pooled allocator's slack, and the collector's headroom.
   */
  public static final double DEFAULT_FRACTION = 0.25;

  /** A queued event holds its delta twice: parsed, and encoded once for every recipient. */
  static final int EVENT_WEIGHT = 2;

  /** How often the budget is summed and slow consumers chosen. */
  static final long SWEEP_MILLIS = 100;

  /** An outbox holding this many queued bytes is watched even while its socket is writable. */
  static final long WATCH_BYTES = 64 * 1024;

  /** A connection holding less than this is not a slow consumer and is never closed for memory. */
  public static final long MIN_EVICTABLE_BYTES = 64 * 1024;

  /** A connection the budget may read and close. Implemented by the outbox. */
  interface Member {
    /** Bytes waiting in the outbox (queued events and held frames). Any thread. */
    long outboxBytes();

    /** Bytes in Netty's outbound buffer of the connection. Any thread. */
    long socketBytes();

    /** {@code System.nanoTime()} when the connection was first seen backed up. */
    long watchedSinceNanos();

    /** True once the connection is closing (for any reason). */
    boolean closing();

    /** Closes the connection as a slow consumer for the node's budget; false if already closing. */
    boolean evict();

    /**
     * The budget stopped watching: the next backlog registers it again, and one that came while the
     * budget decided (which found it still watched) registers it now.
     */
    void unwatched();
  }

  private final long limit;
  private final LongAdder outboxBytes = new LongAdder();
  private final Set<Member> watched = ConcurrentHashMap.newKeySet();
  private final LongAccumulator highest = new LongAccumulator(Math::max, 0);
  private final ScheduledExecutorService timer;
  private final AtomicBoolean nudged = new AtomicBoolean();
  private final Runnable nudgedSweep =
      () -> {
        nudged.set(false);
        sweepSafely();
      };
  private long lastStarvedWarning = Long.MIN_VALUE;
  private volatile long sweeps; // Written by the timer thread alone.

  /** Starts the budget's timer; {@code limit} bytes, or 0 for {@link #fromJvm()}. */
  public QueueBudget(long limit, String nodeId) {
    this.limit = limit > 0 ? limit : fromJvm();
    String tooLarge =
        limit > 0
            ? tooLarge(limit, Runtime.getRuntime().maxMemory(), PlatformDependent.maxDirectMemory())
            : null;
    if (tooLarge != null) {
      log.warn(tooLarge);
    }
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "handoff-budget-" + nodeId);
              t.setDaemon(true);
              return t;
            });
    timer.scheduleWithFixedDelay(
        this::sweepSafely, SWEEP_MILLIS, SWEEP_MILLIS, TimeUnit.MILLISECONDS);
  }

  /** {@link #DEFAULT_FRACTION} of the smaller of this JVM's maximum heap and direct memory. */
  public static long fromJvm() {
    return derive(Runtime.getRuntime().maxMemory(), PlatformDependent.maxDirectMemory());
  }

  /** {@link #DEFAULT_FRACTION} of the smaller of {@code maxHeap} and {@code maxDirect}. */
  public static long derive(long maxHeap, long maxDirect) {
    long smaller = maxDirect > 0 ? Math.min(maxHeap, maxDirect) : maxHeap;
    return Math.max(1L << 20, (long) (smaller * DEFAULT_FRACTION));
  }

  /**
   * The warning a configured budget gets when it is more than the smaller of the heap and the
   * direct-memory limit: the node would run out of memory before the budget closed anyone. Null
   * when it fits. A warning, not a refusal: the figures are this JVM's, which a configuration
   * checked elsewhere (or a node whose heap is raised later) does not share.
   */
  public static String tooLarge(long limit, long maxHeap, long maxDirect) {
    boolean directSmaller = maxDirect > 0 && maxDirect < maxHeap;
    long smaller = directSmaller ? maxDirect : maxHeap;
    if (limit <= smaller) {
      return null;
    }
    return "queue-budget "
        + mib(limit)
        + " is more than this JVM's "
        + (directSmaller
            ? "direct-memory limit, " + mib(smaller) + " (-XX:MaxDirectMemorySize)"
            : "heap, " + mib(smaller) + " (-Xmx)")
        + ": the node would run out of memory before the budget closed a device that does not"
        + " read; lower queue-budget (auto takes a quarter) or give the JVM more memory";
  }

  private static String mib(long bytes) {
    return (bytes >> 20) + " MiB";
  }

  /** The budget in bytes. */
  public long limit() {
    return limit;
  }

  /** Bytes queued towards devices on this node now (outboxes plus watched sockets). */
  public long queuedBytes() {
    long total = outboxBytes.sum();
    for (Member m : watched) {
      total += m.socketBytes();
    }
    return total;
  }

  /** The most bytes a sweep found queued since the node started. */
  public long highestQueuedBytes() {
    return highest.get();
  }

  /** An outbox's bytes changed by {@code delta}. Any thread; lock-free. */
  void add(long delta) {
    outboxBytes.add(delta);
  }

  /** An outbox grew by another {@link #WATCH_BYTES}: sweep soon. Any thread; never blocks. */
  void nudge() {
    if (!nudged.get() && nudged.compareAndSet(false, true)) {
      try {
        timer.execute(nudgedSweep);
      } catch (java.util.concurrent.RejectedExecutionException stopped) {
        // The node is stopping.
      }
    }
  }

  /** {@code m} is backed up: watch it until it holds nothing. Any thread. */
  void watch(Member m) {
    watched.add(m);
  }

  /** {@code m}'s connection is gone. Any thread. */
  void forget(Member m) {
    watched.remove(m);
  }

  /**
   * How many sweeps have finished since the node started. A sweep that starts after some bytes were
   * counted has seen them once this has grown by two.
   */
  public long sweeps() {
    return sweeps;
  }

  private void sweepSafely() {
    try {
      sweep();
    } catch (RuntimeException e) {
      log.warn("queue budget sweep failed", e);
    } finally {
      sweeps++; // One writer, the timer thread; readers only compare.
    }
  }

  /** Sums what is queued and closes the slowest consumers while over the budget. Timer thread. */
  void sweep() {
    long total = outboxBytes.sum();
    long releasing = 0;
    List<Candidate> candidates = new ArrayList<>();
    List<Member> idle = null;
    for (Member m : watched) {
      long socket = m.socketBytes();
      long held = socket + m.outboxBytes();
      total += socket;
      if (m.closing()) {
        releasing += held; // On its way out: freed once its close completes.
      } else if (held == 0) {
        if (idle == null) {
          idle = new ArrayList<>();
        }
        idle.add(m);
      } else if (held >= MIN_EVICTABLE_BYTES) {
        candidates.add(new Candidate(m, held, m.watchedSinceNanos()));
      }
    }
    if (idle != null) {
      // After the walk, so that one registered again meanwhile is not met twice by it. Removed
      // before its flag is cleared, so that a new backlog registers it again; and a backlog that
      // came after it was read empty, which found the flag still set, is seen by unwatched().
      for (Member m : idle) {
        watched.remove(m);
        m.unwatched();
      }
    }
    highest.accumulate(total);
    long excess = total - releasing - limit;
    if (excess <= 0) {
      return;
    }
    long toFree = total - releasing - (limit - limit / 10);
    candidates.sort(
        Comparator.comparingLong(Candidate::held)
            .reversed()
            .thenComparingLong(Candidate::sinceNanos));
    long freed = 0;
    for (Candidate c : candidates) {
      if (freed >= toFree) {
        break;
      }
      if (c.member.evict()) {
        freed += c.held;
      }
    }
    if (freed < toFree) {
      long now = System.nanoTime();
      if (lastStarvedWarning == Long.MIN_VALUE
          || now - lastStarvedWarning > TimeUnit.MINUTES.toNanos(1)) {
        lastStarvedWarning = now;
        log.warn(
            "{} bytes queued towards devices, over the budget of {}, and no connection holds {} or"
                + " more to close: many devices fall a little behind (is the node short of CPU?)",
            total,
            limit,
            MIN_EVICTABLE_BYTES);
      }
    }
  }

  /** Stops the timer. Connections are not touched. */
  @Override
  public void close() {
    timer.shutdownNow();
  }

  private record Candidate(Member member, long held, long sinceNanos) {}
}
