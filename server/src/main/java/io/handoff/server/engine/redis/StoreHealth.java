package io.handoff.server.engine.redis;

import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether Redis answers, as this node sees it: a PING every {@link #DEFAULT_INTERVAL} on the
 * command connection (on a Cluster, to every master) that must be answered within {@link
 * #DEFAULT_TIMEOUT}. A PING that times out makes the store HUNG, one that fails at once (not
 * connected, refused) makes it LOST, and one answered makes it UP again. {@code /readyz} answers
 * 503 unless UP, so a load balancer stops sending devices to a node whose Redis hangs within about
 * interval + timeout.
 *
 * <p>Logging is by state change: one line when Redis is lost, hung or back (with how long it was
 * away), one when Redis reports trouble it means as temporary (loading, a failover), repeated at
 * most once per {@link #REPEAT_EVERY} while it lasts, instead of one line per failed command.
 * Thread-safe.
 */
final class StoreHealth implements AutoCloseable {
  static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(1);
  static final Duration DEFAULT_TIMEOUT = Duration.ofMillis(1500);
  static final Duration REPEAT_EVERY = Duration.ofSeconds(30);

  private static final Logger log = LoggerFactory.getLogger(StoreHealth.class);

  enum State {
    UP,
    HUNG,
    LOST
  }

  private final String name;
  private final Duration timeout;
  private final CopyOnWriteArrayList<Runnable> listeners = new CopyOnWriteArrayList<>();
  private volatile State state = State.UP;
  private volatile long downSinceNanos;
  private volatile long lastTroubleLogNanos;
  private volatile String lastTrouble = "";
  private volatile ScheduledFuture<?> task;

  StoreHealth(String name, Duration timeout) {
    this.name = name;
    this.timeout = timeout;
  }

  /** Starts PINGing through {@code ping} every {@code interval} on {@code timer}. */
  void start(EventExecutorGroup timer, Duration interval, Supplier<CompletableFuture<?>> ping) {
    task =
        timer.scheduleWithFixedDelay(
            () -> check(ping), interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void check(Supplier<CompletableFuture<?>> ping) {
    CompletableFuture<?> f;
    try {
      f = ping.get();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
        .whenComplete(
            (ok, err) -> {
              if (err == null) {
                to(State.UP, null);
                return;
              }
              Throwable cause = RedisFailures.unwrap(err);
              if (cause instanceof java.util.concurrent.TimeoutException
                  || RedisFailures.classify(cause)
                      instanceof io.handoff.server.sync.OutcomeUnknownException) {
                to(State.HUNG, cause);
              } else {
                to(State.LOST, cause);
              }
            });
  }

  private void to(State next, Throwable cause) {
    State before;
    synchronized (this) {
      before = state;
      if (before == next) {
        return;
      }
      state = next;
    }
    long now = System.nanoTime();
    switch (next) {
      case UP ->
          log.warn(
              "{} is back after {} ms", name, TimeUnit.NANOSECONDS.toMillis(now - downSinceNanos));
      case HUNG -> {
        if (before == State.UP) {
          downSinceNanos = now;
        }
        log.warn(
            "{} is hung: no answer to PING within {} ms; /readyz answers 503",
            name,
            timeout.toMillis());
      }
      case LOST -> {
        if (before == State.UP) {
          downSinceNanos = now;
        }
        log.warn("{} is lost: {}; /readyz answers 503", name, describe(cause));
      }
      default -> throw new IllegalStateException();
    }
    listeners.forEach(Runnable::run);
  }

  /**
   * Redis reported trouble it means as temporary (LOADING, TRYAGAIN, a failover): logged once, then
   * at most once per {@link #REPEAT_EVERY} while the same kind of trouble lasts.
   */
  void troubled(Throwable cause) {
    String kind = describe(cause);
    int space = kind.indexOf(' ');
    String word = space > 0 ? kind.substring(0, space) : kind;
    long now = System.nanoTime();
    if (!word.equals(lastTrouble) || now - lastTroubleLogNanos >= REPEAT_EVERY.toNanos()) {
      lastTrouble = word;
      lastTroubleLogNanos = now;
      log.warn(
          "{} reports {}; commands are retried for up to {} s",
          name,
          kind,
          RedisFailures.DEFAULT_WAIT.toSeconds());
    }
  }

  /** A failover was seen (the cluster's masters changed). Logged once per change. */
  void failoverSeen(String what) {
    log.warn("{}: failover seen ({})", name, what);
  }

  private static String describe(Throwable cause) {
    return cause == null ? "unknown" : String.valueOf(cause.getMessage());
  }

  State state() {
    return state;
  }

  boolean healthy() {
    return state == State.UP;
  }

  /** Runs {@code listener} after every state change (tests). */
  void onChange(Runnable listener) {
    listeners.add(listener);
  }

  @Override
  public void close() {
    ScheduledFuture<?> t = task;
    if (t != null) {
      t.cancel(false);
    }
  }
}
