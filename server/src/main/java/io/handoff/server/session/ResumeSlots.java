package io.handoff.server.session;

import io.handoff.server.engine.ResumeStore;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.util.LogEvery;
import io.netty.channel.EventLoop;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's bound on the store reads of resumes: at most {@code maxInFlight} Hellos have their
 * read (the user's fan-out subscription, then the resume's one store call) under way at once, and
 * at most {@code maxWaiting} more wait for one of those to end, in the order they came. A Hello
 * past both is refused at once, with no store call: a reconnect storm against a slow store then
 * costs the node and the store a bounded number of reads, however many devices come, instead of one
 * per device piling up behind the slow ones. A read holds its slot until the store answers or fails
 * (the store's own timeouts bound that).
 *
 * <p>A read that timed out at the store ({@link OutcomeUnknownException#isTimedOut}) may still be
 * queued there: a paused Redis holds every script sent to it and runs them all when it resumes.
 * While the last read of a shard to end timed out (the part of the store a user's resume reads,
 * {@link ResumeStore#shardOf}: a Redis Cluster's master, the whole store otherwise), the line lets
 * one read of that shard at a time reach the store and refuses that shard's others at once, the
 * waiting ones too, so a long pause costs the store one held read per timeout instead of {@code
 * maxInFlight}; the first read of the shard that ends otherwise (an answer, an error, a lost
 * connection) opens the line to it again. Reads of the other shards go on at full width, within the
 * node's bounds. Thread-safe.
 */
final class ResumeSlots {
  private static final Logger log = LoggerFactory.getLogger(ResumeSlots.class);

  private final int maxInFlight;
  private final int maxWaiting;
  private final LongAdder refused;
  private final LongAdder failed;
  private final Function<String, Object> shardOf;
  private final Predicate<Object> hasShard;
  private final ArrayDeque<Waiting> waiting = new ArrayDeque<>(); // guarded by this
  private int inFlight; // guarded by this; waiting is empty unless it is maxInFlight
  // guarded by this; the shards with reads under way or stalled, none of a stalled one waiting
  private final Map<Object, Shard> shards = new HashMap<>();
  private final LogEvery failures = new LogEvery(FAILURE_LOG_EVERY);
  // guarded by this; sessions that closed while their resume waited in the line (its entries are
  // dropped by the next Hello that finds the line full); may count one that left it meanwhile
  private int closedInLine;

  /** A line for a store that is one shard. */
  ResumeSlots(int maxInFlight, int maxWaiting, LongAdder refused, LongAdder failed) {
    this(
        maxInFlight,
        maxWaiting,
        refused,
        failed,
        userId -> ResumeStore.ONE_SHARD,
        ResumeStore.ONE_SHARD::equals);
  }

  /**
   * A line whose reads of a user are of the shard {@code shardOf} names, whose state it drops once
   * {@code hasShard} says the store no longer has it ({@link ResumeStore#shardOf}, {@link
   * ResumeStore#hasShard}).
   */
  ResumeSlots(
      int maxInFlight,
      int maxWaiting,
      LongAdder refused,
      LongAdder failed,
      Function<String, Object> shardOf,
      Predicate<Object> hasShard) {
    this.maxInFlight = maxInFlight;
    this.maxWaiting = maxWaiting;
    this.refused = refused;
    this.failed = failed;
    this.shardOf = shardOf;
    this.hasShard = hasShard;
  }

  /** A shard's reads under way, and whether the last of its reads to end timed out. */
  private static final class Shard {
    int inFlight;
    boolean stalled;
  }

  /**
   * A resume waiting for a slot: {@code start} starts it on its loop's next turn and says whether
   * the loop took the task; {@code wanted} whether its connection still wants it; {@code answer} is
   * what it completes.
   */
  private record Waiting(
      Object shard, BooleanSupplier start, BooleanSupplier wanted, CompletableFuture<?> answer) {}

  /** A Hello refused because the node's resume reads and their waiting line are full. */
  static final class Refused extends RuntimeException {
    Refused(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * Runs {@code read} on {@code loop} once a slot is free (at once if one is), and completes with
   * its answer; fails with {@link Refused} if none is free and the line is full (or reads of its
   * shard are timing out at the store and one is under way), and with a {@link
   * CancellationException} if {@code wanted} (any thread) says no by the time the slot comes (the
   * connection closed while it waited), or by the time a Hello finds the line full after such a
   * close ({@link #closed}).
   */
  <T> CompletableFuture<T> read(
      EventLoop loop, BooleanSupplier wanted, Supplier<CompletableFuture<T>> read) {
    return read(loop, ResumeStore.ONE_SHARD, wanted, read);
  }

  /** {@link #read(EventLoop, BooleanSupplier, Supplier)} of a read of {@code shard}. */
  <T> CompletableFuture<T> read(
      EventLoop loop, Object shard, BooleanSupplier wanted, Supplier<CompletableFuture<T>> read) {
    CompletableFuture<T> answer = new CompletableFuture<>();
    List<Waiting> gone = dropClosed();
    if (gone != null) {
      gone.forEach(w -> w.answer().completeExceptionally(closedWhileWaiting()));
    }
    synchronized (this) {
      Shard state = shards.get(shard);
      boolean stalled = state != null && state.stalled;
      if (inFlight < maxInFlight && (!stalled || state.inFlight == 0)) {
        inFlight++;
        enter(shard);
      } else if (!stalled && waiting.size() < maxWaiting) {
        // Started on its loop's next turn, never inside the release that frees its slot: a line of
        // closed connections is then passed over one task at a time, not by recursion.
        waiting.add(
            new Waiting(
                shard,
                () -> hop(loop, () -> start(loop, shard, wanted, read, answer), answer),
                wanted,
                answer));
        return answer;
      } else {
        refused.increment();
        return CompletableFuture.failedFuture(
            stalled
                ? stalledRefusal()
                : new Refused(
                    "this node has "
                        + maxInFlight
                        + " resumes reading the store and "
                        + maxWaiting
                        + " waiting, its limit: reconnect soon"));
      }
    }
    if (loop.inEventLoop()) {
      start(loop, shard, wanted, read, answer);
    } else if (!hop(loop, () -> start(loop, shard, wanted, read, answer), answer)) {
      release(shard); // The node is stopping: the slot goes on to the next.
    }
    return answer;
  }

  /**
   * A read of {@code shard} takes a slot: counted as its shard's, once the state of stalled shards
   * the store no longer has (a Cluster master failed over or removed) is dropped, so the shards
   * kept are those with reads under way and the store's own, and a master made master again later
   * starts afresh, not held back by an earlier hang.
   */
  private void enter(Object shard) {
    dropGone();
    Shard state = shards.get(shard);
    if (state == null) {
      state = new Shard();
      shards.put(shard, state);
    }
    state.inFlight++;
  }

  /** Drops the state of stalled shards with no read under way that the store no longer has. */
  private void dropGone() {
    // Idle entries are of stalled shards (an entry goes when its last read ends otherwise): few,
    // and most of the time none, so the store is rarely asked.
    shards.entrySet().removeIf(e -> e.getValue().inFlight == 0 && !hasShard.test(e.getKey()));
  }

  /**
   * {@code session}'s Hello: {@link #read} on its loop, its resume marked IN_LINE while it waits in
   * the line, so that its close gives up its place there ({@link #closed}). Event loop.
   */
  <T> CompletableFuture<T> read(Session session, Supplier<CompletableFuture<T>> read) {
    CompletableFuture<T> answer =
        read(session.loop(), shardOf.apply(session.userId()), () -> !session.dead, read);
    session.set(SessionState.IN_LINE, !answer.isDone() && !session.is(SessionState.REGISTERED));
    return answer;
  }

  /**
   * {@code session} closed: if its resume still waited in the line, its place there is free. The
   * entry goes when its turn comes, or before: a Hello that finds the line full drops the entries
   * of connections that closed (one that closed holds none of the {@code maxWaiting} places, or
   * live devices would be refused for connections long gone). Its event loop.
   */
  void closed(Session session) {
    if (session.waitsInLine()) {
      synchronized (this) {
        closedInLine++;
      }
    }
  }

  /** The line's entries of closed connections, taken out of it, if it is full and has some. */
  private synchronized List<Waiting> dropClosed() {
    if (closedInLine == 0 || waiting.size() < maxWaiting) {
      return null;
    }
    closedInLine = 0;
    List<Waiting> gone = new ArrayList<>();
    waiting.removeIf(
        w -> {
          if (w.wanted().getAsBoolean()) {
            return false;
          }
          gone.add(w);
          return true;
        });
    return gone;
  }

  private static CancellationException closedWhileWaiting() {
    return new CancellationException("closed while it waited");
  }

  private static Refused stalledRefusal() {
    return new Refused(
        "this node's resume reads are timing out at the store, which may still hold them:"
            + " reconnect soon");
  }

  /**
   * Queues {@code task} on {@code loop}; returns false, having failed {@code answer}, if the loop
   * refused it (the node is stopping), and the caller passes the slot on.
   */
  private static boolean hop(EventLoop loop, Runnable task, CompletableFuture<?> answer) {
    try {
      loop.execute(task);
      return true;
    } catch (RejectedExecutionException stopped) {
      answer.completeExceptionally(stopped);
      return false;
    }
  }

  private <T> void start(
      EventLoop loop,
      Object shard,
      BooleanSupplier wanted,
      Supplier<CompletableFuture<T>> read,
      CompletableFuture<T> answer) {
    if (!wanted.getAsBoolean()) {
      release(shard);
      answer.completeExceptionally(closedWhileWaiting());
      return;
    }
    CompletableFuture<T> f;
    try {
      f = read.get();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete(
        (v, err) -> {
          ended(shard, err);
          release(shard);
          if (err == null) {
            answer.complete(v);
          } else {
            answer.completeExceptionally(err);
          }
        });
  }

  /**
   * A read of {@code shard} ended in {@code err} (null: answered): the line holds back that shard's
   * reads while the last of them the store ended timed out, and refuses its reads waiting (each
   * would add a read the store may hold). A read that never reached the store (its connection was
   * replaced or closed, the node is stopping) changes nothing, nor does one whose subscription
   * failed on a server that is not its shard ({@link Broker.OffShardFailure}: a Cluster's pub/sub
   * node, which the broker's watch replaces if it hangs).
   */
  private void ended(Object shard, Throwable err) {
    Throwable t = err;
    while (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    if (t instanceof CancellationException
        || t instanceof RejectedExecutionException
        || t instanceof Broker.OffShardFailure) {
      return;
    }
    boolean timedOut = t instanceof OutcomeUnknownException o && o.isTimedOut();
    List<Waiting> turnedAway;
    synchronized (this) {
      Shard state = shards.get(shard); // There: this read is counted in it until its release.
      state.stalled = timedOut;
      if (!timedOut || waiting.isEmpty()) {
        return;
      }
      turnedAway = new ArrayList<>();
      waiting.removeIf(
          w -> {
            if (!w.shard().equals(shard)) {
              return false;
            }
            turnedAway.add(w);
            return true;
          });
      if (waiting.isEmpty()) {
        closedInLine = 0;
      }
    }
    for (Waiting w : turnedAway) {
      refused.increment();
      w.answer().completeExceptionally(stalledRefusal());
    }
  }

  /**
   * A read of {@code shard} ended: its slot passes to the first waiting, if any. When the node
   * stops, its loops refuse the waiting resumes: each of those fails and the slot goes on to the
   * next, in this loop rather than by recursion (the line may be thousands long).
   */
  private void release(Object shard) {
    Object ended = shard;
    while (true) {
      Waiting next;
      synchronized (this) {
        Shard state = shards.get(ended);
        if (--state.inFlight == 0 && !state.stalled) {
          shards.remove(ended);
        }
        next = waiting.poll(); // Never of a stalled shard: those are turned away.
        if (next == null) {
          inFlight--;
          closedInLine = 0; // No entry left: none of a closed connection either.
          return;
        }
        enter(next.shard());
      }
      if (next.start().getAsBoolean()) {
        return; // Its loop took it: the slot is its own now.
      }
      ended = next.shard(); // It never started: its slot goes on.
    }
  }

  /**
   * A resume of {@code session} ended in {@code err} at {@code nowNanos}: returns the reason its
   * device is closed with (4005). A failure of the store is logged, but once per {@link
   * #FAILURE_LOG_EVERY} for the node, with how many failed unlogged since: a paused store fails
   * every resume, and a storm of them would otherwise write one line per device, hundreds a second.
   */
  String failed(Throwable err, Session session, long nowNanos) {
    String busy = refusal(err);
    if (busy != null) {
      return busy; // Counted by handoff_resumes_refused_total, not logged.
    }
    failed.increment();
    String since = failures.admit(nowNanos);
    if (since == null) {
      return STORE_FAILED;
    }
    Throwable root = err;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    log.warn("resume of {}/{} failed: {}{}", session.userId(), session.deviceId(), root, since);
    return STORE_FAILED;
  }

  private static final String STORE_FAILED = "store unavailable during resume";

  /** How often the node logs a failed resume at most. */
  static final Duration FAILURE_LOG_EVERY = Duration.ofSeconds(10);

  /** The refusal's message if {@code err} is one, else null. */
  static String refusal(Throwable err) {
    Throwable t =
        err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
    return t instanceof Refused ? t.getMessage() : null;
  }

  /** Reads under way now (for tests). */
  synchronized int inFlight() {
    return inFlight;
  }

  /** Resumes waiting for a slot now (for tests). */
  synchronized int waiting() {
    return waiting.size();
  }

  /**
   * The shards whose reads go one at a time now: stalled, and still of the store (the state of one
   * it no longer has is dropped here too).
   */
  synchronized int stalledShards() {
    dropGone();
    int n = 0;
    for (Shard s : shards.values()) {
      if (s.stalled) {
        n++;
      }
    }
    return n;
  }

  /** The shards the line keeps state of now: with reads under way, or stalled (for tests). */
  synchronized int shardsKept() {
    return shards.size();
  }
}
