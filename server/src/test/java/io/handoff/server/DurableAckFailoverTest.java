package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.protocol.v1.Snapshot;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Durable acks through a failover of a standalone primary: the node reaches Redis at one address (a
 * proxy here; a Sentinel URL or a virtual IP in production) that moves to the promoted replica when
 * the primary is killed with SIGKILL. The replica was cut off from the primary's stream just before
 * the last writes, so it never had them; the replica it has of its own keeps up with it. A write
 * the node acks must be on the promoted replica: the WAIT of the new primary, whose replica holds
 * everything the new primary has, says nothing of writes applied on the old one.
 */
@Tag("fault")
class DurableAckFailoverTest {
  private static final StoreLimits DURABLE =
      StoreLimits.builder().durableAcks(1).durableAckTimeout(Duration.ofSeconds(2)).build();

  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  private static <T> T on(RedisProcess r, Function<RedisCommands<String, String>, T> command) {
    try (RedisClient client = RedisClient.create(r.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      return command.apply(c.sync());
    }
  }

  private static boolean linked(RedisProcess replica) {
    return on(replica, r -> r.info("replication")).contains("master_link_status:up");
  }

  /**
   * A primary whose replica (reached through {@code link}, which can be frozen) has a replica of
   * its own; a node with durable acks reaches Redis through {@code address}; {@code user}'s phone
   * wrote its first write, acked and on the replica.
   */
  private Durable durable(String user) throws Exception {
    RedisProcess primary = nodes.add(RedisProcess.start());
    ChaosProxy link = nodes.add(new ChaosProxy(primary.port()));
    RedisProcess replica = nodes.add(RedisProcess.startReplicaOf(link.port()));
    RedisProcess second = nodes.add(RedisProcess.startReplicaOf(replica));
    ChaosProxy address = nodes.add(new ChaosProxy(primary.port()));
    Conditions.await(
        "both replicas linked", () -> linked(replica) && linked(second), Duration.ofSeconds(30));
    HandoffServer node = nodes.redis("redis://127.0.0.1:" + address.port(), "a", DURABLE);
    TestDevice device = nodes.add(TestDevice.connect(node.port(), TestServer.token(user, "phone")));
    device.hello();
    assertTrue(device.answerTo(device.write("cart", 1, "f", "one")).hasAck());
    String outcomes = nodes.prefix + "{" + user + "}:s:phone";
    assertNotNull(on(replica, r -> r.hget(outcomes, "1")), "the replica holds the acked write");
    return new Durable(primary, link, replica, address, device, outcomes);
  }

  private record Durable(
      RedisProcess primary,
      ChaosProxy link,
      RedisProcess replica,
      ChaosProxy address,
      TestDevice device,
      String outcomes) {}

  @Test
  void aWriteAppliedOnlyOnAPrimaryThatDiedIsNeverAckedByItsSuccessor() throws Exception {
    Durable d = durable("flo");

    // The replica hears nothing more from the primary; the next writes are applied there only.
    d.link().freezeOpenConnections();
    long two = d.device().write("cart", 2, "f", "two");
    Conditions.await(
        "write 2 applied on the primary, its confirmation waiting",
        () ->
            on(d.primary(), r -> r.hget(d.outcomes(), "2")) != null
                && on(d.primary(), r -> r.info("clients")).contains("blocked_clients:1"),
        Duration.ofSeconds(10));
    long three = d.device().write("list", 3, "f", "three");
    Conditions.await(
        "write 3 applied on the primary",
        () -> on(d.primary(), r -> r.hget(d.outcomes(), "3")) != null,
        Duration.ofSeconds(10));

    // The failover: the replica promoted, the address moved to it, the primary killed.
    assertEquals("OK", on(d.replica(), RedisCommands::replicaofNoOne));
    d.address().retarget(d.replica().port());
    d.primary().crash();
    d.address().cutAll();

    for (long request : new long[] {two, three}) {
      ServerFrame answer = d.device().answerTo(request);
      if (answer.hasAck()) {
        String seq = Long.toString(answer.getAck().getClientSeq());
        assertNotNull(
            on(d.replica(), r -> r.hget(d.outcomes(), seq)),
            "write " + seq + " was acked as durable, yet the promoted replica lacks it: " + answer);
      } else {
        assertEquals(ErrorCode.OUTCOME_UNKNOWN, answer.getError().getCode(), answer.toString());
      }
    }
  }

  /**
   * The failover's split moment: the replica is promoted and the address moved to it while the old
   * primary still runs and the node's command connection still reaches it. The connection that
   * confirms writes is cut and comes back through the address, to the new primary; a write the old
   * primary applies then must not be acked on the word of the new primary's replica.
   */
  @Test
  void aWriteAppliedOnTheOldPrimaryIsNotAckedByTheReplicaOfTheNewOne() throws Exception {
    Durable d = durable("gus");

    // The replica promoted and the address moved to it; the old primary runs on.
    d.link().freezeOpenConnections();
    assertEquals("OK", on(d.replica(), RedisCommands::replicaofNoOne));
    d.address().retarget(d.replica().port());
    // The connection that ran the last WAIT is cut, and comes back through the address.
    String waiter =
        on(d.primary(), RedisCommands::clientList)
            .lines()
            .filter(l -> l.contains("cmd=wait"))
            .map(l -> l.replaceAll("^id=(\\d+) .*", "$1"))
            .findFirst()
            .orElseThrow();
    on(d.primary(), r -> r.clientKill(KillArgs.Builder.id(Long.parseLong(waiter))));
    Conditions.await(
        "the confirming connection back, on the new primary",
        // Besides the replica's link, which INFO does not count, and the connection asking.
        () -> on(d.replica(), r -> r.info("clients")).contains("connected_clients:2"),
        Duration.ofSeconds(10));

    ServerFrame answer = d.device().answerTo(d.device().write("cart", 2, "f", "two"));
    assertNotNull(on(d.primary(), r -> r.hget(d.outcomes(), "2")), "applied on the old primary");
    d.primary().crash();
    assertNull(
        on(d.replica(), r -> r.hget(d.outcomes(), "2")), "the promoted replica never had it");
    assertTrue(answer.hasError(), "acked as durable, yet the promoted replica lacks it: " + answer);
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, answer.getError().getCode(), answer.toString());
  }

  /**
   * Without durable acks the same failover loses acked writes, as documented; but every device that
   * holds a lost version, the writer too, is told and ends with exactly the promoted replica's
   * document, with no write after the failover to show it.
   */
  @Test
  void withoutDurableAcksDevicesHoldingLostWritesEndWithThePromotedReplicasDocument()
      throws Exception {
    RedisProcess primary = nodes.add(RedisProcess.start());
    ChaosProxy link = nodes.add(new ChaosProxy(primary.port()));
    RedisProcess replica = nodes.add(RedisProcess.startReplicaOf(link.port()));
    ChaosProxy address = nodes.add(new ChaosProxy(primary.port()));
    Conditions.await("the replica linked", () -> linked(replica), Duration.ofSeconds(30));

    HandoffServer node =
        nodes.redis("redis://127.0.0.1:" + address.port(), "a", StoreLimits.builder().build());
    TestDevice writer =
        nodes.add(TestDevice.connect(node.port(), TestServer.token("hal", "phone")));
    writer.hello();
    TestDevice live = nodes.add(TestDevice.connect(node.port(), TestServer.token("hal", "tv")));
    live.hello();
    String meta = nodes.prefix + "{hal}:m:cart";
    assertTrue(writer.answerTo(writer.write("cart", 1, "f", "kept")).hasAck());
    Conditions.await(
        "the replica holds v1",
        () -> "1".equals(on(replica, r -> r.hget(meta, "version"))),
        Duration.ofSeconds(10));
    link.freezeOpenConnections();
    assertTrue(writer.answerTo(writer.write("cart", 2, "f", "lost-2")).hasAck());
    assertTrue(writer.answerTo(writer.write("cart", 3, "g", "lost-3")).hasAck());
    for (int v = 1; v <= 3; v++) {
      assertEquals(v, live.next(ServerFrame::hasDelta).getDelta().getVersion());
    }

    assertEquals("OK", on(replica, RedisCommands::replicaofNoOne));
    address.retarget(replica.port());
    primary.crash();
    address.cutAll();

    assertEquals("1", on(replica, r -> r.hget(meta, "version")), "v2 and v3 were lost");
    Map<String, String> fields = on(replica, r -> r.hgetall(nodes.prefix + "{hal}:f:cart"));
    for (TestDevice d : new TestDevice[] {live, writer}) {
      Snapshot s = d.next(ServerFrame::hasSnapshot).getSnapshot();
      assertEquals(DocumentSync.Reason.DIVERGED, s.getReason());
      assertEquals(1, s.getVersion());
      Map<String, String> got = new HashMap<>();
      s.getFieldsMap().forEach((k, v) -> got.put(k, v.toStringUtf8()));
      assertEquals(fields, got, "exactly the promoted replica's document");
    }
  }
}
