package io.handoff.server.engine.memory;

import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentStoreContractTest;

class MemoryEngineContractTest extends DocumentStoreContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits) {
    return new MemoryEngine(limits);
  }
}
