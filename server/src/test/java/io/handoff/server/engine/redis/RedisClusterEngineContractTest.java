package io.handoff.server.engine.redis;

import io.handoff.server.RedisClusterProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentStoreContractTest;
import java.util.UUID;

/**
 * The store and broker contract on a three-shard Redis Cluster: every script call is routed to the
 * shard of its user's hash slot, and fan-out crosses shards.
 */
class RedisClusterEngineContractTest extends DocumentStoreContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits) {
    return RedisEngine.connectCluster(
        RedisClusterProcess.sharedSeeds(), "test-" + UUID.randomUUID() + ":", limits);
  }
}
