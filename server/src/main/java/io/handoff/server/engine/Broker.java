package io.handoff.server.engine;

import java.util.function.Consumer;

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
 *   <li>Listeners run on the broker's thread and must not block: they only hand the event to the
 *       connections' event loops.
 * </ul>
 */
public interface Broker extends AutoCloseable {

  /** Starts delivering {@code userId}'s events to {@code listener} until the handle is closed. */
  Subscription subscribe(String userId, Consumer<DocumentEvent> listener);

  /** Hands an applied write to every subscriber of its user. Called by the store. */
  void publish(DocumentEvent event);

  @Override
  void close();

  /** A live subscription; closing it twice is harmless. */
  interface Subscription extends AutoCloseable {
    @Override
    void close();
  }
}
