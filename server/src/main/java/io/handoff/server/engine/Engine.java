package io.handoff.server.engine;

/**
 * The pair of engine parts one node runs on: a {@link DocumentStore} and the {@link Broker} it
 * publishes to. The in-memory pair is the embedded default; a Redis pair serves many nodes.
 */
public interface Engine extends AutoCloseable {
  DocumentStore store();

  Broker broker();

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
