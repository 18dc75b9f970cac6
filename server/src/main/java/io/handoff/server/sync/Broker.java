package io.handoff.server.sync;

import io.handoff.protocol.bus.v1.UserSignal;
import java.util.concurrent.CompletableFuture;

/**
 * Fan-out of {@link DocumentEvent}s to the nodes that have a device of the event's user connected.
 *
 * <h2>Contract</h2>
 *
 * <ul>
 *   <li>A node subscribes to a user when its first device of that user connects and closes the
 *       subscription after its last one leaves, so its traffic grows with its own users.
 *   <li>Events of one document reach a listener in version order. A broker may lose events (a
 *       network broker while its connection is down); receivers detect the gap by version and
 *       recover from the {@link DocumentStore}'s history, so loss costs latency, never correctness.
 *   <li>When a broker knows it may have lost events of a user (its connection dropped and came
 *       back), it calls {@link Listener#onPossibleLoss()} once the subscription is live again, so
 *       the receivers re-check every document against the store; it tells many listeners paced, the
 *       next only once the re-reads of those told before were answered (the future it returns).
 *   <li>{@link #signal Signals} (node-to-node messages about a user: revocations, presence, offers)
 *       travel the same way as events and reach every node subscribed to the user, including the
 *       one that sent them. They carry no version: a signal lost while a broker's connection is
 *       down is gone, so their receivers must tolerate loss (the state they describe lives in the
 *       store and is re-read on {@link Listener#onPossibleLoss()}).
 *   <li>Listeners run on the broker's thread and must not block: they only hand the event to the
 *       connections' event loops.
 * </ul>
 */
public interface Broker extends AutoCloseable {

  /** Starts delivering {@code userId}'s events to {@code listener} until the handle is closed. */
  Subscription subscribe(String userId, Listener listener);

  /**
   * Hands an applied write to every subscriber of its user. Called by stores that do not publish by
   * themselves (the Redis store publishes inside its write script).
   */
  void publish(DocumentEvent event);

  /**
   * Hands {@code signal} to every subscriber of {@code userId} on every node, this one included.
   * Done when it has been handed on (published); it fails, or completes, when that could not be.
   */
  CompletableFuture<?> signal(String userId, UserSignal signal);

  /**
   * Sets the timers the broker keeps (the Redis broker's pace of possible losses) on {@code time},
   * the node's: a node calls it before it subscribes. The default keeps no timers.
   */
  default void useTime(io.handoff.server.Scheduler time) {}

  /** Receives one user's events. */
  interface Listener {
    void onEvent(DocumentEvent event);

    /** A node-to-node signal about this user. */
    default void onSignal(UserSignal signal) {}

    /**
     * Events may have been lost before now; re-check against the store. Returns what completes
     * (normally or not) once the store answered the reads the re-check sent, or none were sent: a
     * broker that tells many listeners waits for it before telling more, so their reads in flight
     * at once stay bounded. It must complete even if the receiver goes meanwhile.
     */
    default CompletableFuture<?> onPossibleLoss() {
      return CompletableFuture.completedFuture(null);
    }
  }

  @Override
  void close();

  /** A subscription; closing it twice is harmless. */
  interface Subscription extends AutoCloseable {
    /**
     * Completes once events published from now on are sure to reach the listener (for a network
     * broker: once the server confirmed the subscription). Readers of the store wait for it first,
     * so that nothing falls between what they read and what they are sent. Fails with {@link
     * OffShardFailure} when it failed on a server that is not where the user's state is read.
     */
    java.util.concurrent.CompletableFuture<Void> ready();

    @Override
    void close();
  }

  /**
   * A subscription's confirmation failed on a server that is not the one holding its user's state
   * (on a Redis Cluster, the node the broker's pub/sub connection reached, whichever it is): it
   * says nothing of the user's shard ({@code ResumeStore.shardOf}), so the node's line of resumes
   * does not count it there. Its cause is the failure as the store classified it.
   */
  final class OffShardFailure extends RuntimeException {
    public OffShardFailure(Throwable cause) {
      super(
          "the subscription's server failed (not the user's shard): " + cause.getMessage(), cause);
    }
  }
}
