package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Every write gets an answer, whatever order the store's answers come in: a write confirmed while
 * its document is being read again (what every connection does after a Cluster failover) is acked
 * at once; a write the store never answers is answered OUTCOME_UNKNOWN at the deadline and the
 * connection carries on; an applied write whose event the broker lost without noticing is acked by
 * a read at the deadline. Real Redis processes; {@link GatedEngine} only holds or drops what a test
 * names.
 */
class WriteAnswerTest {
  private static final Duration DEADLINE = Duration.ofSeconds(3);
  private final Nodes nodes = new Nodes();
  private HandoffServer node;

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  private static String info(RedisProcess r, String section) {
    try (RedisClient client = RedisClient.create(r.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      return c.sync().info(section);
    }
  }

  /**
   * A node on the shared Redis behind a gated engine, with a 3 s write deadline, on {@code time}.
   */
  private GatedEngine gatedNode(Scheduler time) throws Exception {
    StoreLimits limits = StoreLimits.builder().writeAnswerTimeout(DEADLINE).build();
    GatedEngine engine =
        nodes.add(
            new GatedEngine(RedisEngine.connect(RedisProcess.sharedUrl(), nodes.prefix, limits)));
    node = nodes.start("a", engine, time, b -> b.storeLimits(limits));
    return engine;
  }

  /** A device of {@code user} on {@link #node} whose write 1 to "cart" was acked. */
  private TestDevice deviceWithOneAckedWrite(String user) {
    TestDevice device = TestDevice.connect(node.port(), TestServer.token(user, "phone"));
    device.hello();
    assertTrue(device.answerTo(device.write("cart", 1, "f", "one")).hasAck());
    return device;
  }

  @Test
  void writeConfirmedWhileItsDocumentIsReadAgainIsAckedAtOnce() throws Exception {
    RedisProcess master = nodes.add(RedisProcess.start());
    RedisProcess replica = nodes.add(RedisProcess.startReplicaOf(master));
    nodes.add(replica::crash); // See RedisRestartFaultTest: a replica may refuse SIGTERM.
    Conditions.await(
        "the replica is linked to its master",
        () -> info(replica, "replication").contains("master_link_status:up"),
        Duration.ofSeconds(30));
    // A deadline for WAIT far beyond the test: the write waits for the replica, not for a timeout.
    StoreLimits limits =
        StoreLimits.builder().durableAcks(1).durableAckTimeout(Duration.ofSeconds(30)).build();
    GatedEngine engine =
        nodes.add(new GatedEngine(RedisEngine.connect(master.url(), nodes.prefix, limits)));
    node = nodes.start("a", engine, limits);
    TestDevice device = deviceWithOneAckedWrite("ann");

    // The replica stops: write 2 is applied on the master and streamed (the writer gets its
    // Delta, so its cursor passes version 2), while WAIT waits for the replica.
    replica.pause();
    long request = device.write("cart", 2, "f", "two");
    ServerFrame own = device.next(f -> f.hasDelta() || f.getRequestId() == request);
    assertTrue(own.hasDelta(), "the write is streamed before it is confirmed: " + own);
    assertEquals(2, own.getDelta().getVersion());

    // The node's pub/sub connection drops: once resubscribed, the session reads its document
    // again from its cursor (as after a failover), and that read stays under way.
    engine.holdReads();
    try (RedisClient client = RedisClient.create(master.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      c.sync().clientKill(KillArgs.Builder.typePubsub());
    }
    engine.changed.await(
        "a read from history under way", () -> engine.heldReads() > 0, Duration.ofSeconds(30));

    // The replica comes back and confirms write 2 while the read is under way. The read starts
    // after version 2 and will not bring it again: the write is acked now.
    replica.resume();
    ServerFrame ack = device.answerTo(request);
    assertTrue(ack.hasAck(), "acked while its document is read again: " + ack);
    assertEquals(2, ack.getAck().getVersion());
    assertTrue(!ack.getAck().getDuplicate(), ack.toString());

    engine.releaseReads();
    ServerFrame next = device.answerTo(device.write("cart", 3, "f", "three"));
    assertTrue(next.hasAck(), next.toString());
    assertEquals(3, next.getAck().getVersion());
    device.close();
  }

  @Test
  void writeTheStoreNeverAnswersIsAnsweredOutcomeUnknownAtTheDeadlineAndTheConnectionGoesOn()
      throws Exception {
    FakeScheduler time = new FakeScheduler();
    GatedEngine engine = gatedNode(time);
    TestDevice device = deviceWithOneAckedWrite("bob");

    engine.leaveWritesUnanswered(true);
    long lost = device.write("cart", 2, "f", "two");
    long behind = device.write("cart", 3, "f", "three");
    // Write 2's deadline timer is set before the store is handed it; write 3 is handed nothing
    // until write 2 is answered, so the deadline fails write 2 alone.
    engine.changed.await(
        "write 2 handed to the store", () -> engine.writesLost() == 1, Duration.ofSeconds(10));
    time.advance(DEADLINE);
    Map<Long, ServerFrame> answers = new HashMap<>();
    while (answers.size() < 2) {
      ServerFrame f = device.next(a -> a.getRequestId() == lost || a.getRequestId() == behind);
      answers.put(f.getRequestId(), f);
    }
    ServerFrame unknown = answers.get(lost);
    assertTrue(unknown.hasError(), unknown.toString());
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, unknown.getError().getCode());
    assertTrue(unknown.getError().getRetryable());
    assertTrue(
        unknown.getError().getMessage().contains("no answer within 3000 ms"),
        unknown.getError().getMessage());
    // The write queued behind it is not tried (it must never land before write 2).
    ServerFrame refused = answers.get(behind);
    assertTrue(refused.hasError(), refused.toString());
    assertEquals(ErrorCode.PREDECESSOR_NOT_APPLIED, refused.getError().getCode());
    assertEquals(1, engine.writesLost());

    engine.leaveWritesUnanswered(false);
    ServerFrame two = device.answerTo(device.write("cart", 2, "f", "two"));
    assertTrue(two.hasAck(), two.toString());
    assertEquals(2, two.getAck().getVersion());
    ServerFrame three = device.answerTo(device.write("cart", 3, "f", "three"));
    assertTrue(three.hasAck(), three.toString());
    assertEquals(3, three.getAck().getVersion());
    device.close();
  }

  @Test
  void appliedWriteWhoseEventTheBrokerLostIsAckedByAReadAtTheDeadline() throws Exception {
    // Real time: on fake time the test could not tell when the node has taken the store's answer,
    // and a deadline run before it would answer OUTCOME_UNKNOWN instead of reading.
    GatedEngine engine = gatedNode(Scheduler.system());
    TestDevice device = deviceWithOneAckedWrite("cid");

    // The store answers write 2 (applied at version 2), but its event never reaches the session
    // and nothing says it was lost: no later event shows a gap.
    engine.dropNextEvent();
    ServerFrame ack = device.answerTo(device.write("cart", 2, "f", "two"));
    assertTrue(engine.eventDropped(), "the event of write 2 was dropped");
    assertTrue(ack.hasAck(), "acked by the read at the deadline: " + ack);
    assertEquals(2, ack.getAck().getVersion());
    device.close();
  }
}
