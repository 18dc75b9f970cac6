package io.handoff.server.engine;

/**
 * The engine parts one node runs on: a {@link DocumentStore}, the {@link Broker} it publishes to,
 * and the {@link HandoffStore}. The in-memory pair is the embedded default; a Redis pair serves
 * many nodes.
 */
public interface Engine extends AutoCloseable {
  DocumentStore store();

  Broker broker();

  /** Activities, handoff offers and presence, on the same backing store. */
  HandoffStore handoff();

  /** A short name for logs: "memory", "redis". */
  String name();

  /** What survives a restart of this node, said plainly for the start-up log and the docs. */
  String durability();

  /** False while the engine cannot reach its backing store; drives {@code /readyz}. */
  default boolean healthy() {
    return true;
  }

  @Override
  void close();
}
