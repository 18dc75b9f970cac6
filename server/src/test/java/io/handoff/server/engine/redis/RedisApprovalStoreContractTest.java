package io.handoff.server.engine.redis;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.devices.ApprovalStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.util.UUID;

class RedisApprovalStoreContractTest extends ApprovalStoreContractTest {
  @Override
  protected Engine newEngine(MutableClock clock) {
    return RedisEngine.connect(
        RedisProcess.sharedUrl(),
        "test-" + UUID.randomUUID() + ":",
        StoreLimits.builder().build(),
        clock);
  }
}
