package io.handoff.server.engine.redis;

import io.handoff.server.RedisClusterProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentStoreContractTest;
import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.util.UUID;

/**
 * The store and broker contract on a three-shard Redis Cluster: every script call is routed to the
 * shard of its user's hash slot, and fan-out crosses shards.
 */
class RedisClusterEngineContractTest extends DocumentStoreContractTest {
  private final String prefix = "test-" + UUID.randomUUID() + ":";

  @Override
  protected Engine newEngine(StoreLimits limits) {
    return RedisEngine.connectCluster(RedisClusterProcess.sharedSeeds(), prefix, limits);
  }

  /** Its keys go, as their idle TTL would take them; the device's outcome hash stays. */
  @Override
  protected void dropIdleDocument(String document) {
    RedisKeys keys = new RedisKeys(prefix);
    RedisClusterClient client =
        RedisClusterClient.create(
            RedisClusterProcess.sharedSeeds().stream().map(RedisURI::create).toList());
    try (StatefulRedisClusterConnection<byte[], byte[]> c =
        client.connect(ByteArrayCodec.INSTANCE)) {
      // One slot (the user's hash tag), so one DEL.
      c.sync()
          .del(
              keys.meta(user, document), keys.fields(user, document), keys.history(user, document));
    } finally {
      client.shutdown();
    }
  }
}
