package io.handoff.server.engine.redis;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisClusterProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ResumeContractTest;
import io.handoff.server.engine.StoreLimits;
import java.util.UUID;

/**
 * The resume contract on a three-shard Redis Cluster: every key resume.lua touches carries the
 * user's hash tag, so the one script runs on the user's shard.
 */
class RedisClusterResumeContractTest extends ResumeContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits, MutableClock clock) {
    return RedisEngine.connectCluster(
        RedisClusterProcess.sharedSeeds(), "test-" + UUID.randomUUID() + ":", limits, clock);
  }
}
