package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A test Cluster's nodes take the {@code cluster-node-timeout} it was started with: a test of a
 * stopped node relies on it to keep the Cluster's own failure detection (then CLUSTERDOWN on every
 * shard) out of what it checks, or to bring it in.
 */
class RedisClusterNodeTimeoutTest {
  @Test
  void everyNodeOfTheSharedClusterTakesFifteenSecondsToFailANode() {
    String env = System.getenv("REDIS_CLUSTER_URL");
    assumeTrue(env == null || env.isBlank(), "a Cluster of the tests' own, not REDIS_CLUSTER_URL");
    List<String> seeds = RedisClusterProcess.sharedSeeds();

    assertEquals(
        Collections.nCopies(seeds.size(), 15_000L), RedisClusterProcess.nodeTimeouts(seeds));
  }
}
