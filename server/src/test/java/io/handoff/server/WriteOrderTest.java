package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.sync.SyncResult;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A device's writes to a document are applied in the order it made them, even when it sends them
 * carelessly (several of one document at once, or an old one again after a newer one), checked
 * against what the store applied on a real Redis process of this test.
 */
class WriteOrderTest {
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private String pausedPid;

  @AfterEach
  void tearDown() throws Exception {
    if (pausedPid != null) {
      signal("-CONT");
    }
    nodes.close();
  }

  private String pid() {
    try (RedisClient client = RedisClient.create(redis.url());
        StatefulRedisConnection<String, String> c = client.connect()) {
      for (String line : c.sync().info("server").split("\r?\n")) {
        if (line.startsWith("process_id:")) {
          return line.substring("process_id:".length()).trim();
        }
      }
    }
    throw new AssertionError("no process_id in INFO server");
  }

  private void signal(String sig) throws Exception {
    if (pausedPid == null) {
      pausedPid = pid();
    }
    Process kill = new ProcessBuilder("kill", sig, pausedPid).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
    assertEquals(0, kill.exitValue(), "kill " + sig);
    if (sig.equals("-CONT")) {
      pausedPid = null;
    }
  }

  private SyncResult truth(HandoffServer node, String user) throws Exception {
    return node.engine().store().read(user, "cart", 0, 0).get(10, TimeUnit.SECONDS);
  }

  @Test
  void writeSentBehindOneOfUnknownFateIsNotTriedSoItNeverLandsFirst() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "a");
    TestDevice device = TestDevice.connect(node.port(), TestServer.token("ann", "phone"));
    device.hello();
    TestDevice observer = TestDevice.connect(node.port(), TestServer.token("ann", "tv"));
    observer.hello();
    assertTrue(device.answerTo(device.write("cart", 1, "f", "one")).hasAck());
    assertEquals(1, observer.next(ServerFrame::hasDelta).getDelta().getVersion());

    signal("-STOP");
    long second = device.write("cart", 2, "f", "two");
    long third = device.write("cart", 3, "f", "three");
    java.util.Map<Long, ServerFrame> answers = new java.util.HashMap<>();
    while (answers.size() < 2) {
      ServerFrame f = device.next(a -> a.hasError() || a.hasAck());
      answers.put(f.getRequestId(), f);
    }
    ServerFrame unknown = answers.get(second);
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, unknown.getError().getCode(), unknown.toString());
    ServerFrame held = answers.get(third);
    assertEquals(ErrorCode.PREDECESSOR_NOT_APPLIED, held.getError().getCode(), held.toString());
    assertTrue(held.getError().getRetryable());
    signal("-CONT");

    // The paused Redis ran write 2 when it resumed; write 3 was never sent to it.
    ServerFrame delta = observer.next(ServerFrame::hasDelta);
    assertEquals(2, delta.getDelta().getVersion());
    assertEquals(2, delta.getDelta().getOriginSeq());
    assertEquals(2, truth(node, "ann").toVersion());
    ServerFrame again = device.answerTo(device.write("cart", 2, "f", "two"));
    assertTrue(again.getAck().getDuplicate(), again.toString());
    ServerFrame last = device.answerTo(device.write("cart", 3, "f", "three"));
    assertEquals(3, last.getAck().getVersion(), last.toString());
    SyncResult end = truth(node, "ann");
    assertEquals(3, end.toVersion());
    assertEquals("three", end.fields().get("f").toStringUtf8());
    device.close();
    observer.close();
  }

  @Test
  void olderWriteSentAgainAfterANewerOneIsRefusedOutOfOrderAndChangesNothing() throws Exception {
    HandoffServer node = nodes.redis(redis.url(), "a");
    TestDevice device = TestDevice.connect(node.port(), TestServer.token("bob", "phone"));
    device.hello();
    assertTrue(device.answerTo(device.write("cart", 1, "f", "one")).hasAck());
    assertTrue(device.answerTo(device.write("cart", 3, "f", "three")).hasAck());
    ServerFrame late = device.answerTo(device.write("cart", 2, "f", "two"));
    assertEquals(ErrorCode.OUT_OF_ORDER, late.getError().getCode(), late.toString());
    assertFalse(late.getError().getRetryable());
    assertEquals(2, late.getError().getCurrentVersion());
    SyncResult end = truth(node, "bob");
    assertEquals(2, end.toVersion());
    assertEquals("three", end.fields().get("f").toStringUtf8());
    device.close();
  }
}
