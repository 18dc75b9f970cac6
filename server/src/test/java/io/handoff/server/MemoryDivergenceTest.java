package io.handoff.server;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;

class MemoryDivergenceTest extends DivergenceTest {
  private MemoryEngine engine;

  @Override
  protected HandoffServer startNode(StoreLimits limits) throws Exception {
    engine = new MemoryEngine(limits);
    return HandoffServer.start(
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("test")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(limits)
            .build(),
        engine);
  }

  @org.junit.jupiter.api.AfterEach
  void closeEngine() {
    engine.close();
  }

  @Override
  protected Object backup() {
    return engine.store().backup(user);
  }

  @Override
  protected void restore(Object backup) {
    engine.store().restore(user, backup);
  }
}
