package io.handoff.server.engine.memory;

import io.handoff.server.MutableClock;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStoreContractTest;

class MemoryHandoffStoreContractTest extends HandoffStoreContractTest {
  @Override
  protected Engine newEngine(MutableClock clock) {
    return new MemoryEngine(StoreLimits.builder().build(), clock);
  }
}
