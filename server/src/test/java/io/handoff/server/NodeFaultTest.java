package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Three nodes on one Redis under load, devices given every node's address: one node dies without a
 * word (its sockets reset, nothing drained), then another is drained. Held against what the store
 * applied: no acked write is lost, none applied twice or out of its device's order, and every
 * device ends on the store's document. The short variants are in {@link MultiNodeTest}.
 */
class NodeFaultTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  @Tag("fault")
  void oneNodeKilledAndAnotherDrainedUnderLoadOfThirtyDevicesLoseNothing() throws Exception {
    RedisProcess redis = nodes.add(RedisProcess.start());
    StoreLimits limits = StoreLimits.builder().historyLength(StoreTruth.HISTORY).build();
    HandoffServer n1 = nodes.redis(redis.url(), "n1", limits);
    HandoffServer n2 = nodes.redis(redis.url(), "n2", limits);
    HandoffServer n3 = nodes.redis(redis.url(), "n3", limits);
    List<String> names = new ArrayList<>();
    for (int u = 0; u < 10; u++) {
      names.add("node-" + u);
    }
    FaultLoad load =
        nodes.add(new FaultLoad(FaultLoad.urls(n1, n2, n3), names, 3, Duration.ofMillis(20), 32));
    load.start().awaitMoreAcked(300, Duration.ofSeconds(90));
    n1.abort();
    load.awaitMoreAcked(300, Duration.ofSeconds(90));
    n2.close();
    load.awaitMoreAcked(300, Duration.ofSeconds(90));
    load.stopAndSettle(Duration.ofSeconds(90));
    StoreTruth truth =
        StoreTruth.read(n3.engine().store(), load).checkConvergence(load, Duration.ofSeconds(60));
    System.out.printf(
        "NodeFaultTest: %s; devices resynced %d; closes by code %s%n",
        truth, load.devicesResynced(), load.closesByCode());
    assertEquals(0, truth.lost, () -> "acked and missing from the store: " + truth.lostSample());
    assertEquals(0, truth.duplicated, truth.problemsSample());
    assertEquals(0, truth.reordered, truth.problemsSample());
    assertEquals(0, truth.olderFinal, truth.problemsSample());
    assertEquals(0, truth.notAppliedButApplied, truth.problemsSample());
    assertEquals(0, truth.diverged, truth.problemsSample());
    assertEquals(0, truth.pending);
    assertEquals(30, n3.hub().sessions(), "every device ended on the last node");
  }
}
