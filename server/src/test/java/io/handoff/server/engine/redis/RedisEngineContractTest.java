package io.handoff.server.engine.redis;

import io.handoff.server.RedisProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentStoreContractTest;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.util.UUID;

class RedisEngineContractTest extends DocumentStoreContractTest {
  private final String prefix = "test-" + UUID.randomUUID() + ":";

  @Override
  protected Engine newEngine(StoreLimits limits) {
    return RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits);
  }

  /** Its keys go, as their idle TTL would take them; the device's outcome hash stays. */
  @Override
  protected void dropIdleDocument(String document) {
    RedisKeys keys = new RedisKeys(prefix);
    RedisClient client = RedisClient.create(RedisProcess.sharedUrl());
    try (StatefulRedisConnection<byte[], byte[]> c = client.connect(ByteArrayCodec.INSTANCE)) {
      c.sync()
          .del(
              keys.meta(user, document), keys.fields(user, document), keys.history(user, document));
    } finally {
      client.shutdown();
    }
  }
}
