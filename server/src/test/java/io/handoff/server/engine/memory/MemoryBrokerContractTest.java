package io.handoff.server.engine.memory;

import io.handoff.server.engine.BrokerContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;

class MemoryBrokerContractTest extends BrokerContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits) {
    return new MemoryEngine(limits);
  }

  /** The in-process broker has no connection to lose. */
  @Override
  protected boolean cutConnection() {
    return false;
  }
}
