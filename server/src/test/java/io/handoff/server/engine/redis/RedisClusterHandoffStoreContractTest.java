package io.handoff.server.engine.redis;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisClusterProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.handoff.HandoffStoreContractTest;
import java.util.UUID;

/** The contract on a three-shard Redis Cluster: every script stays in its user's slot. */
class RedisClusterHandoffStoreContractTest extends HandoffStoreContractTest {
  @Override
  protected Engine newEngine(MutableClock clock) {
    return RedisEngine.connectCluster(
        RedisClusterProcess.sharedSeeds(),
        "test-" + UUID.randomUUID() + ":",
        StoreLimits.builder().build(),
        clock);
  }
}
