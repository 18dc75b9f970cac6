package io.handoff.server.engine.redis;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisClusterProcess;
import io.handoff.server.devices.SessionStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.util.UUID;

/** The contract on a three-shard Redis Cluster: every script stays in its user's slot. */
class RedisClusterSessionStoreContractTest extends SessionStoreContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits, MutableClock clock) {
    return RedisEngine.connectCluster(
        RedisClusterProcess.sharedSeeds(), "test-" + UUID.randomUUID() + ":", limits, clock);
  }
}
