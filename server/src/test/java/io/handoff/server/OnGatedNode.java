package io.handoff.server;

import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;

/**
 * The fixture of the tests of one node on a {@link GatedEngine} (which holds, counts or drops what
 * the store is asked, as each test tells it): {@link #startNode} starts {@link #node} on {@link
 * #engine}, and {@link #nodes} stops both, and whatever the test opened through it, after each
 * test.
 */
abstract class OnGatedNode {
  final Nodes nodes = new Nodes();
  GatedEngine engine;
  HandoffServer node;

  @AfterEach
  void stopTheNode() {
    nodes.close();
  }

  /** Starts the node {@code name} on a gated in-memory engine with the default limits. */
  void startNode(String name, Consumer<ServerConfig.Builder> customize) throws Exception {
    StoreLimits limits = StoreLimits.builder().build();
    startNode(name, new MemoryEngine(limits), limits, customize);
  }

  /**
   * Starts the node {@code name} on a gated engine over {@code real}, with {@code limits} (those
   * {@code real} was opened with), then {@code customize}'s settings.
   */
  void startNode(
      String name, Engine real, StoreLimits limits, Consumer<ServerConfig.Builder> customize)
      throws Exception {
    engine = new GatedEngine(real);
    node =
        nodes.start(
            name,
            engine,
            b -> {
              b.storeLimits(limits);
              customize.accept(b);
            });
  }
}
