package io.handoff.client;

import io.handoff.client.internal.UpgradeFailedException;
import io.handoff.protocol.CloseCode;
import java.net.URI;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where and when a {@link SyncEngine}'s next connection attempt goes. Attempts go to the configured
 * URLs in turn, starting with the first; each failed attempt and each lost connection moves to the
 * next one (wrapping around), after the reconnect backoff. After a close with {@link
 * CloseCode#UNAVAILABLE} or an upgrade refused with 503 (the store, not the network, failed; or a
 * proxy in front of a node that drains answered) the backoff is capped at {@code
 * unavailableBackoffMax}, so devices come back soon after the store does. An upgrade refused with
 * 429 or 503 and a {@code Retry-After} is not tried again before it.
 *
 * <p>Event loop only. One attempt waits at a time; it runs the engine's {@code attempt}, which does
 * nothing if the client closed or connected meanwhile.
 */
final class Reconnects {
  /** How long a connection must last for the reconnect backoff to start over when it ends. */
  static final long STABLE_CONNECTION_NANOS = TimeUnit.SECONDS.toNanos(10);

  private static final Logger log = LoggerFactory.getLogger(Reconnects.class);

  private final List<URI> urls;
  private final Scheduler scheduler;
  private final Backoff backoff;
  private final long unavailableMaxNanos;
  private final Runnable attempt;
  // Index into urls of the endpoint the next attempt goes to.
  private int endpoint;
  private Scheduler.Task waiting;

  /**
   * @param unavailableMaxNanos the cap of the backoff after the store, not the network, failed
   * @param attempt starts the next connection attempt, to {@link #endpoint()}
   */
  Reconnects(
      List<URI> urls,
      Scheduler scheduler,
      Backoff backoff,
      long unavailableMaxNanos,
      Runnable attempt) {
    this.urls = urls;
    this.scheduler = scheduler;
    this.backoff = backoff;
    this.unavailableMaxNanos = unavailableMaxNanos;
    this.attempt = attempt;
  }

  /** The endpoint the next attempt goes to. */
  URI endpoint() {
    return urls.get(endpoint);
  }

  /** An attempt could not even start: the same endpoint is tried again after the backoff. */
  void afterFailedStart() {
    schedule(false, backoff.nextDelayNanos());
  }

  /**
   * Attempt {@code l} ended at {@code now} with {@code closeCode} (its {@code cause}, if any), one
   * after which the client reconnects: the next attempt goes to the next endpoint. The backoff
   * starts over only after a connection that lasted ({@link #STABLE_CONNECTION_NANOS}): a node that
   * welcomes and then drops every connection at once is not called back at the shortest delay for
   * ever. A connection the app's check found dead is made again at once.
   */
  void afterClose(Link l, int closeCode, Throwable cause, long now) {
    boolean stable = now - l.welcomedAtNanos >= STABLE_CONNECTION_NANOS;
    if ((l.welcomed && stable) || l.retryAtOnce()) {
      backoff.reset();
    }
    schedule(true, l.retryAtOnce() ? 0 : delayNanos(closeCode, cause));
  }

  /** The client closed: the attempt waiting, if any, never runs. */
  void cancel() {
    if (waiting != null) {
      waiting.cancel();
      waiting = null;
    }
  }

  /**
   * The wait before the next attempt after a close with a reconnect code. The store, not the
   * network, failed after a close with {@code UNAVAILABLE} or an upgrade refused with 503 (the
   * node's store check, or a proxy in front of a node that drains): come back soon, to the next
   * endpoint, the backoff capped at {@code unavailableBackoffMax}. An upgrade refused with 429 or
   * 503 and a {@code Retry-After} waits at least that long ({@link Backoff#retryAfterNanos}).
   */
  private long delayNanos(int closeCode, Throwable cause) {
    int status = cause instanceof UpgradeFailedException refused ? refused.status() : 0;
    boolean storeDown = closeCode == CloseCode.UNAVAILABLE.code() || status == 503;
    long delay = storeDown ? backoff.nextDelayNanos(unavailableMaxNanos) : backoff.nextDelayNanos();
    if (status == 429 || status == 503) {
      long retryAfterMillis = ((UpgradeFailedException) cause).retryAfterMillis();
      if (retryAfterMillis >= 0) {
        delay =
            Math.max(
                delay, backoff.retryAfterNanos(TimeUnit.MILLISECONDS.toNanos(retryAfterMillis)));
      }
    }
    return delay;
  }

  /** Schedules the next attempt, to the next endpoint when {@code nextEndpoint}. */
  private void schedule(boolean nextEndpoint, long delay) {
    if (nextEndpoint) {
      endpoint = (endpoint + 1) % urls.size();
    }
    log.debug("reconnecting to {} in {} ms", urls.get(endpoint), delay / 1_000_000);
    waiting =
        scheduler.schedule(
            () -> {
              waiting = null;
              attempt.run();
            },
            delay);
  }
}
