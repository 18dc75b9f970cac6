package io.handoff.server.engine.redis;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ResumeContractTest;
import io.handoff.server.engine.StoreLimits;
import java.util.UUID;

/** The resume contract on one Redis: one resume.lua call. */
class RedisResumeContractTest extends ResumeContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits, MutableClock clock) {
    return RedisEngine.connect(
        RedisProcess.sharedUrl(), "test-" + UUID.randomUUID() + ":", limits, clock);
  }
}
