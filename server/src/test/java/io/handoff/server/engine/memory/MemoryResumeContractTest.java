package io.handoff.server.engine.memory;

import io.handoff.server.MutableClock;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ResumeContractTest;
import io.handoff.server.engine.StoreLimits;

class MemoryResumeContractTest extends ResumeContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits, MutableClock clock) {
    return new MemoryEngine(limits, clock);
  }
}
