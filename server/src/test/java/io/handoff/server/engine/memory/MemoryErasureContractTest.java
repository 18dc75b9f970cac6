package io.handoff.server.engine.memory;

import io.handoff.server.MutableClock;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.ErasureContractTest;
import io.handoff.server.engine.StoreLimits;
import java.util.ArrayList;
import java.util.List;

class MemoryErasureContractTest extends ErasureContractTest {
  @Override
  protected Engine newEngine(StoreLimits limits, MutableClock clock) {
    return new MemoryEngine(limits, clock);
  }

  @Override
  protected List<String> tracesOf(String userId) {
    MemoryEngine memory = (MemoryEngine) engine;
    List<String> traces = new ArrayList<>();
    if (memory.store().holds(userId)) {
      traces.add("documents map");
    }
    if (memory.sessions().holds(userId)) {
      traces.add("sessions map");
    }
    if (memory.handoff().holds(userId)) {
      traces.add("handoff map");
    }
    if (memory.approvals().holds(userId)) {
      traces.add("approvals map");
    }
    return traces;
  }
}
