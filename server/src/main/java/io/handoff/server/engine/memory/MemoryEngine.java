package io.handoff.server.engine.memory;

import io.handoff.server.engine.Broker;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.time.Clock;

/**
 * The embedded single-node engine: {@link MemoryDocumentStore} publishing to {@link MemoryBroker},
 * and {@link MemoryHandoffStore}.
 */
public final class MemoryEngine implements Engine {
  private final MemoryBroker broker = new MemoryBroker();
  private final MemoryDocumentStore store;
  private final MemoryHandoffStore handoff;

  public MemoryEngine(StoreLimits limits) {
    this(limits, Clock.systemUTC());
  }

  public MemoryEngine(StoreLimits limits, Clock clock) {
    this.store = new MemoryDocumentStore(limits, broker, clock);
    this.handoff = new MemoryHandoffStore(clock);
  }

  @Override
  public MemoryDocumentStore store() {
    return store;
  }

  @Override
  public Broker broker() {
    return broker;
  }

  @Override
  public MemoryHandoffStore handoff() {
    return handoff;
  }

  @Override
  public String name() {
    return "memory";
  }

  @Override
  public String durability() {
    return "in-memory engine: documents, history and write sequences live only in this process;"
        + " nothing survives a restart (every document starts a new epoch, and devices take"
        + " snapshots). Use --redis-url for durable state.";
  }

  @Override
  public void close() {
    store.close();
    broker.close();
  }
}
