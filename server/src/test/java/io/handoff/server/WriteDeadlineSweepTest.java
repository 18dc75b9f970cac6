package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.Ping;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The per-write answer deadline kept by one sweep per connection instead of a timer per write: each
 * write is still due its own deadline after it was handed to the store, however many writes share
 * the connection's one timer, and a write answered in time is acked as usual. On fake time, with
 * the memory engine behind a gate that leaves writes unanswered.
 */
class WriteDeadlineSweepTest {
  private static final Duration DEADLINE = Duration.ofSeconds(3);

  @Test
  void eachWriteIsAnsweredOutcomeUnknownAtItsOwnDeadlineAndNotBefore() throws Exception {
    FakeScheduler time = new FakeScheduler();
    StoreLimits limits = StoreLimits.builder().writeAnswerTimeout(DEADLINE).build();
    GatedEngine engine = new GatedEngine(new MemoryEngine(limits, time.clock()));
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("sweep")
            .jwtSecret(TestServer.SECRET)
            .storeLimits(limits)
            .build();
    try (HandoffServer node = HandoffServer.start(config, engine, time);
        TestDevice device = TestDevice.connect(node.port(), TestServer.token("dee", "phone"))) {
      device.hello();
      assertTrue(device.answerTo(device.write("cart", 1, "f", "one")).hasAck());

      engine.leaveWritesUnanswered(true);
      long first = device.write("cart", 2, "f", "two"); // handed at t = 0, due at 3 s
      awaitLost(engine, 1);
      time.advance(Duration.ofSeconds(2));
      long second = device.write("list", 1, "f", "one"); // handed at t = 2 s, due at 5 s
      awaitLost(engine, 2);

      time.advance(Duration.ofMillis(1500)); // t = 3.5 s: only the first is due
      ServerFrame unknown = device.answerTo(first);
      assertEquals(ErrorCode.OUTCOME_UNKNOWN, unknown.getError().getCode(), unknown.toString());
      assertNoAnswerBeforePong(device, second);

      time.advance(Duration.ofSeconds(2)); // t = 5.5 s: the second is due too
      ServerFrame later = device.answerTo(second);
      assertEquals(ErrorCode.OUTCOME_UNKNOWN, later.getError().getCode(), later.toString());

      // The connection goes on: a write answered in time is acked, and nothing is due later.
      engine.leaveWritesUnanswered(false);
      ServerFrame ack = device.answerTo(device.write("cart", 2, "f", "two"));
      assertTrue(ack.hasAck(), ack.toString());
      assertEquals(2, ack.getAck().getVersion());
      time.advance(DEADLINE.multipliedBy(2));
      assertNoAnswerBeforePong(device, second);
    } finally {
      engine.close();
    }
  }

  private static void awaitLost(GatedEngine engine, int writes) {
    Conditions.await(
        writes + " writes held by the gate",
        () -> engine.writesLost() == writes,
        Duration.ofSeconds(10));
  }

  /** Frames come in order: whatever answers {@code request} would arrive before the Pong. */
  private static void assertNoAnswerBeforePong(TestDevice device, long request) {
    long ping = device.send(ClientFrame.newBuilder().setPing(Ping.newBuilder().setNonce(7)));
    while (true) {
      ServerFrame f = device.next();
      if (f.hasPong() && f.getRequestId() == ping) {
        return;
      }
      assertFalse(f.getRequestId() == request, "answered before its deadline: " + f);
    }
  }
}
