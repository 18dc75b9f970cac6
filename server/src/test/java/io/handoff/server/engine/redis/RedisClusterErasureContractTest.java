package io.handoff.server.engine.redis;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisClusterProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ErasureContractTest;
import io.handoff.server.engine.StoreLimits;
import java.util.List;
import java.util.UUID;

/** Erasure on a three-shard Redis Cluster: every node's keyspace is scanned. */
class RedisClusterErasureContractTest extends ErasureContractTest {
  private final String prefix = "test-" + UUID.randomUUID() + ":";

  @Override
  protected Engine newEngine(StoreLimits limits, MutableClock clock) {
    return RedisEngine.connectCluster(RedisClusterProcess.sharedSeeds(), prefix, limits, clock);
  }

  /** Every key of the user in the keyspace, found with SCAN. */
  @Override
  protected List<String> tracesOf(String userId) {
    return RedisKeyspace.userTraces(RedisClusterProcess.sharedSeeds(), prefix, userId);
  }
}
