package io.handoff.server.engine.memory;

import io.handoff.server.MutableClock;
import io.handoff.server.devices.ApprovalStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;

class MemoryApprovalStoreContractTest extends ApprovalStoreContractTest {
  @Override
  protected Engine newEngine(MutableClock clock) {
    return new MemoryEngine(StoreLimits.builder().build(), clock);
  }
}
