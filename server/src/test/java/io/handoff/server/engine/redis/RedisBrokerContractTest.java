package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.RedisProcess;
import io.handoff.server.engine.BrokerContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import java.util.List;
import java.util.UUID;

class RedisBrokerContractTest extends BrokerContractTest {
  // Names this engine's connections, so the test cuts only its own subscriber.
  private final String name = "test-" + UUID.randomUUID();

  @Override
  protected Engine newEngine(StoreLimits limits) {
    return RedisEngine.connect(
        RedisProcess.sharedUrl() + "?clientName=" + name, name + ":", limits);
  }

  @Override
  protected boolean cutConnection() {
    int killed = RedisKeyspace.killSubscribers(List.of(RedisProcess.sharedUrl()), name);
    assertTrue(killed >= 1, "killed the engine's pub/sub connection");
    return true;
  }
}
