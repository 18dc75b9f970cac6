package io.handoff.server.engine.redis;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisClusterProcess;
import io.handoff.server.devices.ApprovalStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.util.UUID;

/** The contract on a three-shard Redis Cluster: each script stays in its request's slot. */
class RedisClusterApprovalStoreContractTest extends ApprovalStoreContractTest {
  @Override
  protected Engine newEngine(MutableClock clock) {
    return RedisEngine.connectCluster(
        RedisClusterProcess.sharedSeeds(),
        "test-" + UUID.randomUUID() + ":",
        StoreLimits.builder().build(),
        clock);
  }
}
