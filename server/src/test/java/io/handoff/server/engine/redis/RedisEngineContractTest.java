package io.handoff.server.engine.redis;

import io.handoff.server.RedisProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.sync.DocumentStoreContractTest;
import java.util.UUID;

class RedisEngineContractTest extends DocumentStoreContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits) {
    return RedisEngine.connect(RedisProcess.sharedUrl(), "test-" + UUID.randomUUID() + ":", limits);
  }
}
