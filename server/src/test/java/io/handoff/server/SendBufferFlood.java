package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.redis.RedisEngine;
import java.time.Duration;

/**
 * A device flooding a node with 60 KiB writes to new documents while the Redis they go to is hung
 * (SIGSTOP), for the send-buffer bound's tests ({@link RedisSendBufferBoundTest}, {@link
 * RedisSharedSendBufferBoundTest}).
 *
 * <p>Its devices follow no document. The writes a hung Redis holds are answered OUTCOME_UNKNOWN and
 * applied once it runs again; the copy of each would then make the node read that document for the
 * writer (its write is no longer in flight), one read per document, queued behind everything Redis
 * still has to work through. On a busy machine one of those reads times out (2 s) and the node
 * closes the device with UNAVAILABLE, as it does for any catch-up read that fails: the reconnect a
 * real client makes, but not what these tests are about.
 */
final class SendBufferFlood {
  static final String KB60 = "x".repeat(60 * 1024);
  static final long HIGH_MARK = 32L << 20;
  // Far more than the bound and the socket buffers of the kernel hold: a test failure, not a hang.
  private static final int MAX_WRITES = 3000;
  // Redis works through what it held after SIGCONT; a busy machine makes that slow.
  private static final Duration AFTER_RESUME = Duration.ofSeconds(90);

  private final TestDevice device;
  private final RedisEngine engine;
  private long seq;
  private long most;

  private SendBufferFlood(TestDevice device, RedisEngine engine) {
    this.device = device;
    this.engine = engine;
  }

  /** {@code user}'s phone on {@code node}, welcomed, following nothing. */
  static SendBufferFlood connect(HandoffServer node, String user) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(user, "phone"));
    ServerFrame welcome =
        d.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());
    assertTrue(welcome.hasWelcome(), welcome.toString());
    return new SendBufferFlood(d, (RedisEngine) node.engine());
  }

  TestDevice device() {
    return device;
  }

  /** The most bytes seen waiting in the node's Redis send buffers. */
  long most() {
    return most;
  }

  /**
   * Writes until one is refused UNAVAILABLE (the hung Redis's send buffer past its bound), then 20
   * more, each refused at once; returns the writes refused.
   */
  int untilRefused() {
    ServerFrame refused = null;
    while (refused == null && seq < MAX_WRITES) {
      seq++;
      device.write("doc" + seq, seq, "v", KB60);
      most = Math.max(most, engine.sendBufferBytes());
      for (ServerFrame f = device.poll(); f != null; f = device.poll()) {
        if (f.hasError() && f.getError().getCode() == ErrorCode.UNAVAILABLE) {
          refused = f;
        }
      }
    }
    assertNotNull(refused, seq + " writes sent, none refused; most waiting: " + most);
    assertTrue(refused.getError().getRetryable(), refused.toString());
    assertTrue(
        refused.getError().getMessage().contains("was not applied"),
        refused.getError().getMessage());
    for (int i = 0; i < 20; i++) {
      seq++;
      ServerFrame f = device.answerTo(device.write("more" + seq, seq, "v", KB60));
      assertEquals(ErrorCode.UNAVAILABLE, f.getError().getCode(), f.toString());
      most = Math.max(most, engine.sendBufferBytes());
    }
    return 21;
  }

  /**
   * Once Redis runs again: waits until it read what waited in the node's send buffers, then writes
   * until a write is acked (one may still time out behind what Redis works through, answered
   * OUTCOME_UNKNOWN or UNAVAILABLE, and is sent anew), on the same connection.
   */
  void appliedAgain() {
    Conditions.await(
        "Redis read what waited", () -> engine.sendBufferBytes() == 0, Duration.ofSeconds(30));
    long deadline = System.nanoTime() + AFTER_RESUME.toNanos();
    while (System.nanoTime() < deadline) {
      seq++;
      // To the flood's first document, not a new one: what Redis held and applied after it ran
      // again may be up to the user's 1,000 documents (the kernel's socket buffers held more than
      // usual in one run), and a new document would then be refused LIMIT_EXCEEDED.
      ServerFrame f = answer(device.write("doc1", seq, "v", "back"), deadline);
      if (f.hasAck()) {
        return;
      }
      ErrorCode code = f.getError().getCode();
      assertTrue(code == ErrorCode.OUTCOME_UNKNOWN || code == ErrorCode.UNAVAILABLE, f.toString());
    }
    fail("no write acked within " + AFTER_RESUME + " of Redis running again");
  }

  /** The Ack or Error answering {@code id}, waited for until {@code deadline} (nanoTime). */
  private ServerFrame answer(long id, long deadline) {
    while (System.nanoTime() < deadline) {
      assertFalse(device.isClosed(), () -> "the device was closed: " + device.awaitClose());
      ServerFrame f = device.poll(100);
      if (f != null && (f.hasAck() || f.hasError()) && f.getRequestId() == id) {
        return f;
      }
    }
    return fail("no answer to request " + id + " within " + AFTER_RESUME);
  }

  /** Asserts the most bytes seen waiting passed {@link #HIGH_MARK}, and by {@code over} at most. */
  void withinBound(long over) {
    assertTrue(most > HIGH_MARK, "the buffer never reached its bound: " + most);
    assertTrue(most <= HIGH_MARK + over, "past the bound plus " + over + ": " + most);
  }
}
