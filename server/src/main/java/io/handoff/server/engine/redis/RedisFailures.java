package io.handoff.server.engine.redis;

import io.handoff.server.sync.OutcomeUnknownException;
import io.handoff.server.sync.StoreUnavailableException;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionException;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.internal.ThreadExecutorMap;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * What a failed Redis command means, and waiting out the trouble Redis says is temporary.
 *
 * <ul>
 *   <li><b>Certainly not run</b>: Redis answered with an error, the connection could not be made,
 *       or Lettuce rejected the command because it was not connected (nothing was sent). Failed as
 *       {@link StoreUnavailableException}.
 *   <li><b>Fate unknown</b>: a timeout, or the connection was lost after the command was sent
 *       (Redis may have run it). Failed as {@link OutcomeUnknownException}; after a timeout, one
 *       that says so ({@link OutcomeUnknownException#isTimedOut}): Redis may still run it.
 *   <li><b>Temporary</b>: {@code LOADING} (a restarted Redis reading its data), {@code TRYAGAIN},
 *       {@code CLUSTERDOWN}, {@code MASTERDOWN}, {@code READONLY}, {@code MOVED}/{@code ASK} past
 *       Lettuce's redirections (a failover in progress), and not connected: the command did not
 *       run, so it is sent again after a short, growing pause, until {@link #DEFAULT_WAIT} has
 *       passed. Devices see a slower answer instead of an error or a closed connection.
 * </ul>
 *
 * Thread-safe.
 */
final class RedisFailures {
  /** How long temporary trouble is waited out before the command fails. */
  static final Duration DEFAULT_WAIT = Duration.ofSeconds(10);

  private static final long FIRST_PAUSE_MS = 25;
  private static final long MAX_PAUSE_MS = 500;

  private final EventExecutorGroup timer;
  private final long waitNanos;
  private final StoreHealth health;

  RedisFailures(EventExecutorGroup timer, Duration wait, StoreHealth health) {
    this.timer = timer;
    this.waitNanos = wait.toNanos();
    this.health = health;
  }

  /**
   * Runs {@code command}, sending it again while Redis reports temporary trouble (for at most the
   * wait), and fails with {@link StoreUnavailableException} or {@link OutcomeUnknownException}.
   */
  <T> CompletableFuture<T> run(Supplier<CompletableFuture<T>> command) {
    return run(command, true);
  }

  /**
   * As {@link #run(Supplier)}, but a failure that is not waited out reaches the caller as Redis or
   * Lettuce reported it, for callers that tell errors apart themselves (NOSCRIPT, a timeout).
   */
  <T> CompletableFuture<T> waitOut(Supplier<CompletableFuture<T>> command) {
    return run(command, false);
  }

  private <T> CompletableFuture<T> run(Supplier<CompletableFuture<T>> command, boolean classify) {
    CompletableFuture<T> result = new CompletableFuture<>();
    // Sent again from the event loop that sent it first, so it goes through that loop's Redis
    // connection again (see RoutedCommands): a write and the copies Redis publishes of it to that
    // loop then share one connection, on which Redis answers only after its append-only file holds
    // the write. From any other thread, the shared timer.
    EventExecutor here = ThreadExecutorMap.currentExecutor();
    attempt(
        command,
        result,
        here != null ? here : timer,
        System.nanoTime() + waitNanos,
        FIRST_PAUSE_MS,
        classify);
    return result;
  }

  private <T> void attempt(
      Supplier<CompletableFuture<T>> command,
      CompletableFuture<T> result,
      EventExecutorGroup retries,
      long deadline,
      long pause,
      boolean classify) {
    CompletableFuture<T> f;
    try {
      f = command.get();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete(
        (value, err) -> {
          if (err == null) {
            health.progress();
            result.complete(value);
            return;
          }
          Throwable cause = unwrap(err);
          if (cause instanceof RedisCommandExecutionException) {
            health.progress(); // An error reply is an answer too.
          }
          if (temporary(cause) && System.nanoTime() + pause * 1_000_000 < deadline) {
            health.troubled(cause);
            try {
              retries.schedule(
                  () ->
                      attempt(
                          command,
                          result,
                          retries,
                          deadline,
                          Math.min(pause * 2, MAX_PAUSE_MS),
                          classify),
                  pause,
                  TimeUnit.MILLISECONDS);
              return;
            } catch (RejectedExecutionException stopped) {
              // The loop that sent the command has stopped (the node is shutting down): no retry,
              // the caller gets the failure as it stands rather than waiting forever.
            }
          }
          result.completeExceptionally(classify ? classify(cause) : cause);
        });
  }

  /**
   * Runs {@code command} on {@code sender}, the executor that sent an earlier command (null: a
   * thread of no event loop), so that what it sends goes through the same Redis connection ({@link
   * RoutedCommands}) and Redis runs it after that command. Throws {@link
   * RejectedExecutionException} if the executor stopped.
   */
  void sendFrom(EventExecutor sender, Runnable command) {
    (sender != null ? sender : timer).execute(command);
  }

  /** The store's kind of failure for {@code cause}. */
  static RuntimeException classify(Throwable err) {
    Throwable cause = unwrap(err);
    if (cause instanceof StoreUnavailableException || cause instanceof OutcomeUnknownException) {
      return (RuntimeException) cause;
    }
    String message = String.valueOf(cause.getMessage());
    if (cause instanceof RedisCommandExecutionException) {
      return new StoreUnavailableException("Redis refused the command: " + message, cause);
    }
    if (cause instanceof RedisConnectionException || notConnected(cause)) {
      return new StoreUnavailableException("Redis is not connected: " + message, cause);
    }
    if (cause instanceof RedisCommandTimeoutException) {
      // Still queued on its connection, maybe: a paused Redis runs it when it resumes.
      return OutcomeUnknownException.timedOut("no answer from Redis: " + cause, cause);
    }
    return new OutcomeUnknownException("no answer from Redis: " + cause, cause);
  }

  /** Trouble Redis or Lettuce says will pass, where the command certainly did not run. */
  static boolean temporary(Throwable cause) {
    if (cause instanceof RedisCommandExecutionException) {
      String m = String.valueOf(cause.getMessage());
      if (m.startsWith("ERR Error running script")) {
        // Redis 6 wraps the error a command inside a script got: a script on a replica (an old
        // primary demoted) stops at its first write with "-READONLY", having written nothing.
        return m.contains("-READONLY") || m.contains("-MASTERDOWN") || m.contains("-LOADING");
      }
      return m.startsWith("LOADING")
          || m.startsWith("TRYAGAIN")
          || m.startsWith("CLUSTERDOWN")
          || m.startsWith("MASTERDOWN")
          || m.startsWith("READONLY")
          || m.startsWith("MOVED")
          || m.startsWith("ASK");
    }
    return notConnected(cause);
  }

  private static boolean notConnected(Throwable cause) {
    return String.valueOf(cause.getMessage()).contains("Commands are rejected");
  }

  static Throwable unwrap(Throwable err) {
    Throwable t = err;
    while ((t instanceof CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }
}
