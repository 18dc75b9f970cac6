package io.handoff.server.engine.redis;

import io.handoff.server.Scheduler;
import io.netty.util.concurrent.EventExecutorGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The pace at which {@link RedisBroker} tells its users' listeners that events may have been lost,
 * on {@code timer}: {@link #BATCH} users at a time, each batch only once the re-reads of the one
 * before were answered (what telling a user returned completed) and at least {@link #PAUSE} after
 * it was told (10,000 users in about 2 s on a Redis that answers at once). Every session re-reads
 * its documents from Redis, and a node's sessions all at once would queue tens of thousands of
 * reads behind each other and the devices' own commands: so the re-reads in Redis at once are at
 * most those of 256 users, however slowly Redis answers. All callers share the one pace, whether a
 * resubscription, a failover or the life marker told them, or all three. The pause and the guard
 * ({@link #WAIT}) are timers of the node's time ({@link #useTime}). Thread-safe.
 *
 * @param <T> a user's channel
 */
final class LossPace<T> {
  /** Users told at once. */
  static final int BATCH = 256;

  /** The pause after each batch. */
  static final Duration PAUSE = Duration.ofMillis(50);

  /**
   * The longest the pace waits for a batch's re-reads before it tells the next: every read ends
   * within about 12 s ({@link RedisEngine#DEFAULT_COMMAND_TIMEOUT} per command, trouble waited out
   * for up to 10 s), so only a listener that never completes what it returned holds the pace this
   * long, and the pace then goes on rather than never telling the users after it.
   */
  static final Duration WAIT = Duration.ofSeconds(30);

  private final EventExecutorGroup timer;
  // Tells one user's listeners; returns their re-reads still under way.
  private final Function<T, List<CompletableFuture<?>>> tell;
  // Users still to be told, in the order they came; one waiting already is told once. Guarded by
  // itself, as are telling and rereading.
  private final LinkedHashSet<T> waiting = new LinkedHashSet<>();
  // A batch is being told, or the pause after one runs: what comes meanwhile waits its turn.
  private boolean telling;
  // Users of the batch told last whose re-reads are not all answered yet.
  private int rereading;
  // The node's time (the real one until a node sets its own).
  private volatile Scheduler time = Scheduler.system();

  LossPace(EventExecutorGroup timer, Function<T, List<CompletableFuture<?>>> tell) {
    this.timer = timer;
    this.tell = tell;
  }

  /** Sets the pause and the guard on {@code time}, the node's. */
  void useTime(Scheduler time) {
    this.time = time;
  }

  /** Tells the users of {@code lost}, in their turn. */
  void tell(Collection<T> lost) {
    synchronized (waiting) {
      waiting.addAll(lost);
      if (telling || waiting.isEmpty()) {
        return;
      }
      telling = true;
    }
    try {
      timer.execute(this::batch);
    } catch (RejectedExecutionException e) {
      stop(); // The client is shutting down.
    }
  }

  private void batch() {
    List<T> batch = new ArrayList<>();
    synchronized (waiting) {
      Iterator<T> it = waiting.iterator();
      while (batch.size() < BATCH && it.hasNext()) {
        batch.add(it.next());
        it.remove();
      }
      if (batch.isEmpty()) {
        telling = false; // The pause after the last batch is over.
        return;
      }
      rereading = batch.size();
    }
    Scheduler t = time;
    long told = t.nanoTime();
    List<CompletableFuture<?>> rereads = new ArrayList<>();
    for (T user : batch) {
      rereads.addAll(tell.apply(user));
    }
    CompletableFuture<Void> answered =
        CompletableFuture.allOf(rereads.toArray(CompletableFuture<?>[]::new));
    Future<?> guard;
    try {
      guard =
          answered.isDone()
              ? null
              : t.schedule(
                  timer, () -> answered.complete(null), WAIT.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      stop();
      return;
    }
    answered.whenComplete(
        (v, err) -> {
          if (guard != null) {
            guard.cancel(false);
          }
          synchronized (waiting) {
            rereading = 0;
          }
          long left = PAUSE.toNanos() - (t.nanoTime() - told);
          try {
            t.schedule(timer, this::batch, Math.max(0, left), TimeUnit.NANOSECONDS);
          } catch (RejectedExecutionException e) {
            stop();
          }
        });
  }

  /** Users of the batch told last whose re-reads the pace waits for; 0 between batches. */
  int rereading() {
    synchronized (waiting) {
      return rereading;
    }
  }

  /** Users still to be told. */
  int waiting() {
    synchronized (waiting) {
      return waiting.size();
    }
  }

  /** Drops every user still to be told (the broker is closing). */
  void stop() {
    synchronized (waiting) {
      waiting.clear();
      telling = false;
      rereading = 0;
    }
  }
}
