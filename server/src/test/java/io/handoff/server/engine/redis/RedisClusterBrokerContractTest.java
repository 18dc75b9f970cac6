package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.RedisClusterProcess;
import io.handoff.server.engine.BrokerContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** The broker contract on a three-shard Redis Cluster, with cluster-wide pub/sub. */
class RedisClusterBrokerContractTest extends BrokerContractTest {
  // Names this engine's connections, so the test cuts only its own subscriber.
  private final String name = "test-" + UUID.randomUUID();

  @Override
  protected Engine newEngine(StoreLimits limits) {
    return RedisEngine.connectCluster(seeds(), name + ":", limits);
  }

  @Override
  protected boolean cutConnection() {
    int killed = RedisKeyspace.killSubscribers(RedisClusterProcess.sharedSeeds(), name);
    assertTrue(killed >= 1, "killed the engine's pub/sub connection");
    return true;
  }

  private List<String> seeds() {
    List<String> named = new ArrayList<>();
    for (String seed : RedisClusterProcess.sharedSeeds()) {
      named.add((seed.contains("://") ? seed : "redis://" + seed) + "?clientName=" + name);
    }
    return named;
  }
}
