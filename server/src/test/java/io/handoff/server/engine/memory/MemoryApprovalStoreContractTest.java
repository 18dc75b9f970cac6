package io.handoff.server.engine.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.server.MutableClock;
import io.handoff.server.devices.ApprovalStore;
import io.handoff.server.devices.ApprovalStore.Bounds;
import io.handoff.server.devices.ApprovalStore.Created;
import io.handoff.server.devices.ApprovalStore.Poll;
import io.handoff.server.devices.ApprovalStore.Request;
import io.handoff.server.devices.ApprovalStore.State;
import io.handoff.server.devices.ApprovalStoreContractTest;
import io.handoff.server.engine.Engine;
import io.handoff.server.engine.StoreLimits;
import org.junit.jupiter.api.Test;

class MemoryApprovalStoreContractTest extends ApprovalStoreContractTest {
  @Override
  protected Engine newEngine(MutableClock clock) {
    return new MemoryEngine(StoreLimits.builder().build(), clock);
  }

  /**
   * Ended requests are kept for late polls, but never past twice the bound of pending ones: then
   * they go early, all but the approved ones not yet collected.
   */
  @Test
  void endedRequestsGoEarlyWhenTheNodeHoldsTwiceItsBoundOfRecords() {
    MemoryApprovalStore store = new MemoryApprovalStore();
    Bounds two = new Bounds(2, 10, 10);
    Request approved = code(store, "a", two);
    Request denied = code(store, "b", two);
    store.decide(approved.id(), "ann", "phone", true, clock.millis()).join();
    store.decide(denied.id(), "ann", "phone", false, clock.millis()).join();
    for (String id : new String[] {"c", "d"}) {
      store.decide(code(store, id, two).id(), "ann", "phone", false, clock.millis()).join();
    }
    assertEquals(Poll.Status.DENIED, poll(store, denied), "kept while there is room");

    code(store, "e", two);

    assertEquals(Poll.Status.UNKNOWN, poll(store, denied), "gone early to make room");
    assertEquals(Poll.Status.APPROVED, poll(store, approved), "an approval is still collected");
  }

  private Request code(ApprovalStore store, String id, Bounds bounds) {
    long now = clock.millis();
    Request r =
        new Request(
            id,
            "device_code",
            "",
            "tv",
            "",
            "tv",
            "10.9.0." + id,
            now,
            now + 60_000,
            5_000,
            "secret-" + id,
            State.PENDING,
            "",
            0);
    assertEquals(Created.CREATED, store.create(r, bounds).join());
    return r;
  }

  private Poll.Status poll(ApprovalStore store, Request r) {
    return store.poll(r.id(), r.secretHash(), clock.millis()).join().status();
  }
}
