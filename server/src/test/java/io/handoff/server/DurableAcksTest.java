package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Delta;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Durable acks against a real master and replica: two Redis processes of this test, the second
 * started with {@code replicaof} the first. An ack means the replica holds the write; a replica
 * that does not answer (SIGSTOP) gets the write answered OUTCOME_UNKNOWN, never acked.
 */
class DurableAcksTest {
  // A live replica confirms at once; the minute only bounds a loaded machine's slowest round.
  private static final StoreLimits DURABLE =
      StoreLimits.builder().durableAcks(1).durableAckTimeout(Duration.ofMinutes(1)).build();
  // The wait the paused replica makes every write answer OUTCOME_UNKNOWN after.
  private static final StoreLimits DURABLE_SHORT =
      StoreLimits.builder().durableAcks(1).durableAckTimeout(Duration.ofMillis(500)).build();

  private final Nodes nodes = new Nodes();
  private final RedisProcess master = nodes.add(RedisProcess.start());
  private final RedisProcess replica = nodes.add(RedisProcess.startReplicaOf(master));

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  private static String redis(RedisProcess r, String... command) {
    try (RedisClient client = RedisClient.create(r.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      return switch (command[0]) {
        case "info" -> c.sync().info(command[1]);
        case "hget" -> c.sync().hget(command[1], command[2]);
        default -> throw new IllegalArgumentException(command[0]);
      };
    }
  }

  private void awaitReplicaInSync() {
    Conditions.await(
        "the replica is linked to its master",
        () ->
            redis(master, "info", "replication").contains("connected_slaves:1")
                && redis(replica, "info", "replication").contains("master_link_status:up"),
        Duration.ofSeconds(30));
  }

  private String version(RedisProcess r, String user) {
    return redis(r, "hget", nodes.prefix + "{" + user + "}:m:cart", "version");
  }

  /**
   * Sends write {@code seq} of the cart, and again, as a client does, while it is answered
   * OUTCOME_UNKNOWN: the replica, back or under a loaded machine, may take longer than the short
   * wait to confirm. Returns the first other answer.
   */
  private static ServerFrame ackedOnceConfirmed(TestDevice device, long seq, String value) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      ServerFrame answer = device.answerTo(device.write("cart", seq, "f", value));
      if (!answer.hasError()
          || answer.getError().getCode() != ErrorCode.OUTCOME_UNKNOWN
          || System.nanoTime() > deadline) {
        return answer;
      }
    }
  }

  @Test
  void everyAckedWriteIsAlreadyOnTheReplica() throws Exception {
    awaitReplicaInSync();
    HandoffServer node = nodes.redis(master.url(), "a", DURABLE);
    TestDevice device = TestDevice.connect(node.port(), TestServer.token("ann", "phone"));
    assertEquals(1, device.hello().getWelcome().getDurableAckReplicas());
    for (int seq = 1; seq <= 20; seq++) {
      ServerFrame ack = device.answerTo(device.write("cart", seq, "f", "v" + seq));
      assertTrue(ack.hasAck(), ack.toString());
      assertEquals(seq, ack.getAck().getVersion());
      // Read from the replica itself right after the ack: WAIT confirmed it holds the write.
      assertEquals(String.valueOf(seq), version(replica, "ann"), "the replica holds v" + seq);
    }
    device.close();
  }

  @Test
  void writeTheReplicaCannotConfirmIsAnsweredUnknownAndItsResendIsAckedOnceTheReplicaIsBack()
      throws Exception {
    awaitReplicaInSync();
    HandoffServer node = nodes.redis(master.url(), "a", DURABLE_SHORT);
    TestDevice device = TestDevice.connect(node.port(), TestServer.token("bob", "phone"));
    device.hello();
    TestDevice observer = TestDevice.connect(node.port(), TestServer.token("bob", "tv"));
    observer.hello();
    assertTrue(ackedOnceConfirmed(device, 1, "one").hasAck());
    assertEquals(1, observer.next(ServerFrame::hasDelta).getDelta().getVersion());

    replica.pause();
    long request = device.write("cart", 2, "f", "two");
    // Applied on the master: every device sees it, the writer too (as a Delta, not as an ack).
    assertEquals(2, observer.next(ServerFrame::hasDelta).getDelta().getVersion());
    ServerFrame own = device.next(f -> f.hasDelta() || f.getRequestId() == request);
    assertTrue(own.hasDelta(), "the writer's own write comes as a Delta first: " + own);
    assertEquals(2, own.getDelta().getVersion());
    ServerFrame unknown = device.answerTo(request);
    assertTrue(unknown.hasError(), "not acked while the replica does not confirm: " + unknown);
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, unknown.getError().getCode());
    assertTrue(unknown.getError().getRetryable());
    assertTrue(
        unknown.getError().getMessage().contains("0 of 1 replicas"),
        unknown.getError().getMessage());
    assertEquals("2", version(master, "bob"), "applied on the master");

    replica.resume();
    ServerFrame ack = ackedOnceConfirmed(device, 2, "two");
    assertTrue(ack.hasAck(), "the re-send is acked once the replica holds it: " + ack);
    assertTrue(ack.getAck().getDuplicate(), "applied once");
    assertEquals(2, ack.getAck().getVersion());
    assertEquals("2", version(replica, "bob"));
    // Applied once: the next write is version 3, and the next version the observer sees.
    ServerFrame third = ackedOnceConfirmed(device, 3, "three");
    assertTrue(third.hasAck(), third.toString());
    assertEquals(3, third.getAck().getVersion(), "no other version came between");
    Delta next = observer.next(ServerFrame::hasDelta).getDelta();
    assertEquals(3, next.getVersion(), next.toString());
    assertEquals(3, next.getOriginSeq(), next.toString());
    device.close();
    observer.close();
  }
}
