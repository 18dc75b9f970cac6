package io.handoff.server.engine.memory;

import io.handoff.server.engine.DocumentStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;

class MemoryEngineContractTest extends DocumentStoreContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits) {
    return new MemoryEngine(limits);
  }
}
