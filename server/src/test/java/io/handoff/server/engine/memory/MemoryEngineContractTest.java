package io.handoff.server.engine.memory;

import io.handoff.server.MutableClock;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentStoreContractTest;

class MemoryEngineContractTest extends DocumentStoreContractTest {
  private final MutableClock clock = new MutableClock();

  @Override
  protected Engine newEngine(StoreLimits limits) {
    return new MemoryEngine(limits, clock);
  }

  @Override
  protected void idleTtlPasses() {
    clock.advance(LIMITS.idleTtl());
  }

  @Override
  protected void dropIdleDocument(String document) {
    ((MemoryEngine) engine).sweep();
  }
}
