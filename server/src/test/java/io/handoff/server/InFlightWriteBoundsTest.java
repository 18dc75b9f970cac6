package io.handoff.server;

import static io.handoff.server.TestServer.token;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import java.time.Clock;
import java.time.Duration;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Writes waiting for a store that answers slowly (Redis hung by SIGSTOP) are bounded per connection
 * by count and by bytes, and per node by bytes: a write past a bound is refused {@code
 * TOO_MANY_IN_FLIGHT} (retryable, nothing stored), the writes already handed on are acked once the
 * store answers, and the refused one is applied when sent again.
 */
class InFlightWriteBoundsTest {
  private static final String KB16 = "x".repeat(16 * 1024);

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());
  private String paused;

  @AfterEach
  void tearDown() {
    resume();
    nodes.close();
  }

  private HandoffServer node(Consumer<ServerConfig.Builder> customize) throws Exception {
    return nodes.redis(redis.url(), "n1", Clock.systemUTC(), customize);
  }

  private void pause() {
    RedisProcess.signal("-STOP", paused = redis.pid());
  }

  private void resume() {
    if (paused != null) {
      RedisProcess.signal("-CONT", paused);
      paused = null;
    }
  }

  private static void assertRefused(ServerFrame f, String words) {
    assertTrue(f.hasError(), f.toString());
    assertEquals(ErrorCode.TOO_MANY_IN_FLIGHT, f.getError().getCode(), f.toString());
    assertTrue(f.getError().getRetryable(), f.toString());
    assertTrue(f.getError().getMessage().contains(words), f.getError().getMessage());
  }

  private static void assertAcked(ServerFrame f, long version) {
    assertTrue(f.hasAck(), f.toString());
    assertEquals(version, f.getAck().getVersion(), f.toString());
  }

  @Test
  void writesPastTheConnectionsCountAreRefusedUntilTheStoreAnswers() throws Exception {
    HandoffServer n = node(b -> b.maxInFlightWrites(2));
    try (TestDevice phone = TestDevice.connect(n.port(), token("u1", "phone"))) {
      phone.hello();
      pause();
      long first = phone.write("cart", 1, "item", "a");
      long second = phone.write("cart", 2, "item", "b");
      long third = phone.write("cart", 3, "item", "c");
      assertRefused(phone.answerTo(third), "2 writes are waiting");
      resume();
      assertAcked(phone.answerTo(first), 1);
      assertAcked(phone.answerTo(second), 2);
      assertAcked(phone.answerTo(phone.write("cart", 3, "item", "c")), 3);
    }
  }

  @Test
  void aWriteReusingTheClientSeqOfAWriteInFlightForAnotherDocumentIsRefused() throws Exception {
    HandoffServer n = node(b -> {});
    try (TestDevice phone = TestDevice.connect(n.port(), token("u1", "phone"))) {
      phone.hello();
      pause();
      long first = phone.write("cart", 1, "item", "a");
      long again = phone.write("cart", 1, "item", "a");
      long other = phone.write("notes", 1, "text", "b");
      ServerFrame refused = phone.answerTo(other);
      assertEquals(ErrorCode.BAD_REQUEST, refused.getError().getCode(), refused.toString());
      assertTrue(refused.getError().getMessage().contains("already taken by a write of cart"));
      resume();
      assertAcked(phone.answerTo(first), 1);
      // The copy sent again is answered by the first's ack (by its client_seq), not twice: the
      // node answers in order, so any answer to it would come before the next write's ack.
      long next = phone.write("cart", 2, "item", "c");
      for (ServerFrame f = phone.next(); f.getRequestId() != next; f = phone.next()) {
        assertTrue(f.getRequestId() != again, "the copy was answered: " + f);
      }
    }
  }

  @Test
  void writesPastTheConnectionsBytesAreRefusedUntilTheStoreAnswers() throws Exception {
    HandoffServer n = node(b -> b.maxInFlightWriteBytes(40 * 1024, 1024 * 1024));
    try (TestDevice phone = TestDevice.connect(n.port(), token("u1", "phone"))) {
      phone.hello();
      pause();
      long first = phone.write("video", 1, "frame", KB16);
      long second = phone.write("video", 2, "frame", KB16);
      long third = phone.write("video", 3, "frame", KB16);
      long fourth = phone.write("notes", 4, "text", KB16);
      assertRefused(phone.answerTo(third), "bytes of this connection's writes");
      assertRefused(phone.answerTo(fourth), "bytes of this connection's writes");
      resume();
      assertAcked(phone.answerTo(first), 1);
      assertAcked(phone.answerTo(second), 2);
      assertAcked(phone.answerTo(phone.write("video", 3, "frame", KB16)), 3);
      assertAcked(phone.answerTo(phone.write("notes", 4, "text", KB16)), 1);
    }
    awaitNoBytesInFlight(n);
  }

  @Test
  void theNodesBytesBoundHoldsAcrossUsers() throws Exception {
    HandoffServer n = node(b -> b.maxInFlightWriteBytes(40 * 1024, 40 * 1024));
    try (TestDevice phone = TestDevice.connect(n.port(), token("u1", "phone"));
        TestDevice tv = TestDevice.connect(n.port(), token("u2", "tv"))) {
      phone.hello();
      tv.hello();
      pause();
      long first = phone.write("video", 1, "frame", KB16);
      long second = phone.write("video", 2, "frame", KB16);
      awaitHandedOn(n, 32 * 1024);
      // Its connection's first write, refused because the node as a whole is at its bound.
      long other = tv.write("video", 1, "frame", KB16);
      assertRefused(tv.answerTo(other), "this node holds more than 40960 bytes");
      resume();
      assertAcked(phone.answerTo(first), 1);
      assertAcked(phone.answerTo(second), 2);
      awaitNoBytesInFlight(n);
      assertAcked(tv.answerTo(tv.write("video", 1, "frame", KB16)), 1);
    }
    awaitNoBytesInFlight(n);
  }

  @Test
  void aClosedConnectionsWritesNoLongerCountAgainstTheNode() throws Exception {
    HandoffServer n = node(b -> b.maxInFlightWriteBytes(40 * 1024, 40 * 1024));
    try (TestDevice tv = TestDevice.connect(n.port(), token("u2", "tv"))) {
      tv.hello();
      try (TestDevice phone = TestDevice.connect(n.port(), token("u1", "phone"))) {
        phone.hello();
        pause();
        phone.write("video", 1, "frame", KB16);
        phone.write("video", 2, "frame", KB16);
        awaitHandedOn(n, 32 * 1024);
        phone.abort();
      }
      awaitNoBytesInFlight(n);
      long other = tv.write("video", 1, "frame", KB16);
      resume();
      assertAcked(tv.answerTo(other), 1);
    }
  }

  private static void awaitHandedOn(HandoffServer n, long bytes) {
    Conditions.await(
        "writes handed to the store",
        () -> n.stats().writeBytesInFlight.get() >= bytes,
        Duration.ofSeconds(10));
  }

  private static void awaitNoBytesInFlight(HandoffServer n) {
    Conditions.await(
        "no write bytes in flight",
        () -> n.stats().writeBytesInFlight.get() == 0,
        Duration.ofSeconds(10));
  }
}
