package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.handoff.server.engine.NodeIdInUseException;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two processes given one {@code --node-id} on one Redis: the second is refused at its start, and
 * only it says so. The node that keeps the id learns of it too: each refused claim is counted in
 * Redis beside the lease, the holder's renewals read the count, and the holder exports the claims
 * refused while it held the id ({@code handoff_node_id_claims_refused_total}, which {@code
 * HandoffNodeIdClaimRefused} alerts on) and logs a warning naming the id, so the mistake shows on a
 * node whose metrics stay up.
 */
class NodeIdClaimsRefusedTest {
  private static final Duration BOUND = Duration.ofSeconds(30);
  private static final Duration LEASE = Duration.ofMillis(500);
  private static final String COUNTER = "handoff_node_id_claims_refused_total";

  private final Nodes nodes = new Nodes();

  @RegisterExtension
  final CapturedLog said = new CapturedLog("io.handoff.server.engine.redis.NodeLease");

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer holder(String url, String nodeId) throws Exception {
    StoreLimits limits = StoreLimits.builder().nodeLease(LEASE).build();
    return nodes.start(nodeId, RedisEngine.connect(url, nodes.prefix, limits), limits);
  }

  /** Another process (an engine of its own) with {@code nodeId} tries to start, and is refused. */
  private void aSecondProcessIsRefused(String url, String nodeId) {
    RedisEngine other =
        nodes.add(
            RedisEngine.connect(url, nodes.prefix, StoreLimits.builder().nodeLease(LEASE).build()));
    NodeIdInUseException refused =
        assertThrows(
            NodeIdInUseException.class,
            () ->
                nodes.add(
                    HandoffServer.start(
                        ServerConfig.builder()
                            .host("127.0.0.1")
                            .port(0)
                            .nodeId(nodeId)
                            .jwtSecret(TestServer.SECRET)
                            .build(),
                        other)));
    assertTrue(
        refused.getMessage().contains("node id " + nodeId + " is in use"), refused.getMessage());
  }

  /** The holder's counter as its {@code /metrics} shows it. */
  private static double scraped(HandoffServer node) {
    String body = new HttpApi(node.port()).get("/metrics", null).body();
    return body.lines()
        .filter(l -> l.startsWith(COUNTER + "{"))
        .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
        .findFirst()
        .orElseThrow(() -> new AssertionError(COUNTER + " is not exported: " + body));
  }

  private List<String> warnings() {
    return said.events().stream()
        .filter(e -> e.getLevel() == Level.WARN)
        .map(ILoggingEvent::getFormattedMessage)
        .filter(m -> m.contains("refused"))
        .toList();
  }

  private void awaitCounted(HandoffServer holder, String nodeId, long n) {
    Conditions.await(
        "the holder counted " + n + " refused claims",
        () -> holder.engine().nodeClaimsRefused(nodeId) >= n,
        BOUND,
        Duration.ofMillis(10));
    assertEquals(n, holder.engine().nodeClaimsRefused(nodeId), said.toString());
    assertEquals(n, scraped(holder), 0.0);
  }

  @Test
  void theHolderCountsEachRefusedClaimOfItsIdAndWarns() throws Exception {
    String url = RedisProcess.sharedUrl();
    HandoffServer holder = holder(url, "twice");
    assertEquals(0, scraped(holder), 0.0);

    aSecondProcessIsRefused(url, "twice");
    awaitCounted(holder, "twice", 1);
    List<String> warned = warnings();
    assertEquals(1, warned.size(), warned.toString());
    assertTrue(warned.get(0).contains("node id twice"), warned.get(0));
    assertTrue(warned.get(0).contains("give every node its own --node-id"), warned.get(0));
    // The count in Redis beside the lease, under its hash tag, expires.
    String countKey = nodes.prefix + "{node:twice}:refused";
    RedisCommands<String, String> raw = nodes.control(url).sync();
    long ttl = raw.pttl(countKey);
    assertTrue(ttl > 0 && ttl <= 2 * LEASE.toMillis(), "the count expires: PTTL " + ttl);

    // A crash loop: every restart refused is counted, one warning each.
    aSecondProcessIsRefused(url, "twice");
    awaitCounted(holder, "twice", 2);
    assertEquals(2, warnings().size(), warnings().toString());

    // The count in Redis gone (expired, or Redis lost it): the holder's counter never falls.
    raw.del(countKey);
    aSecondProcessIsRefused(url, "twice");
    awaitCounted(holder, "twice", 3);
    assertTrue(holder.engine().holdsNode("twice"), "the holder keeps its id");
    assertEquals(null, holder.readiness().problem());
  }

  /**
   * Nothing contends: the counter stays 0 over many renewals, and so it does for a node that takes
   * over the lease of a process that stopped (killed, and restarted at once), which is no
   * collision.
   */
  @Test
  void theCounterStaysAtZeroWhenNothingContends() throws Exception {
    String url = RedisProcess.sharedUrl();
    RedisCommands<String, String> raw = nodes.control(url).sync();
    String lease = nodes.prefix + "{node:alone}:lease";
    raw.set(lease, "a-process-that-was-killed", SetArgs.Builder.px(LEASE.toMillis()));
    HandoffServer holder = holder(url, "alone");

    // Twenty renewals seen: the lease's time left grew twenty times between two readings.
    AtomicLong previous = new AtomicLong(raw.pttl(lease));
    for (int renewal = 1; renewal <= 20; renewal++) {
      Conditions.await(
          "renewal " + renewal + " of the lease",
          () -> {
            long left = raw.pttl(lease);
            return left > previous.getAndSet(left);
          },
          BOUND,
          Duration.ofMillis(5));
    }
    assertEquals(0, holder.engine().nodeClaimsRefused("alone"));
    assertEquals(0, scraped(holder), 0.0);
    assertEquals(List.of(), warnings());
    assertFalse(raw.exists(nodes.prefix + "{node:alone}:refused") > 0, "nothing was counted");
  }
}
