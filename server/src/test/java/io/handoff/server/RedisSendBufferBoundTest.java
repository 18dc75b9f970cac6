package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.redis.RedisEngine;
import io.netty.channel.epoll.Epoll;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * While Redis is hung (SIGSTOP), the bytes a node sends it wait in the send buffer of its loop's
 * Redis connection, after their commands timed out too. Past that buffer's bound (32 MiB), a
 * document write is refused {@code UNAVAILABLE} unsent, so a device that keeps re-sending cannot
 * grow the node's memory for as long as the pause lasts; once Redis runs again, writes are applied
 * again. On a real Redis process, with the loops' own connections (the default, on epoll).
 */
class RedisSendBufferBoundTest {
  private static final String KB60 = "x".repeat(60 * 1024);
  private static final long HIGH_MARK = 32L << 20;
  // Far more than the bound and the socket buffers of the kernel hold: a test failure, not a hang.
  private static final int MAX_WRITES = 3000;

  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.start());

  @AfterEach
  void tearDown() {
    redis.resume();
    nodes.close();
  }

  @Test
  void writesPastTheSendBuffersBoundAreRefusedUnsentWhileRedisIsHung() throws Exception {
    assumeTrue(Epoll.isAvailable(), "epoll is not offered here");
    // 1,000 writes of 60 KiB in flight (the count bound) is past the send buffer's bound.
    HandoffServer n =
        nodes.redis(
            redis.url(), "n1", Clock.systemUTC(), b -> b.maxInFlightWriteBytes(1L << 30, 1L << 30));
    RedisEngine engine = (RedisEngine) n.engine();
    try (TestDevice phone = TestDevice.connect(n.port(), TestServer.token("u1", "phone"))) {
      phone.hello();
      redis.pause();
      ServerFrame refused = null;
      long most = 0;
      long seq = 0;
      while (refused == null && seq < MAX_WRITES) {
        seq++;
        phone.write("doc" + seq, seq, "v", KB60);
        most = Math.max(most, engine.sendBufferBytes());
        for (ServerFrame f = phone.poll(); f != null; f = phone.poll()) {
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
      // Writes go on being refused, and the buffer stays within its bound plus one write.
      long more = seq + 20;
      while (seq < more) {
        seq++;
        ServerFrame f = phone.answerTo(phone.write("more" + seq, seq, "v", KB60));
        assertEquals(ErrorCode.UNAVAILABLE, f.getError().getCode(), f.toString());
        most = Math.max(most, engine.sendBufferBytes());
      }
      assertTrue(most > HIGH_MARK, "the buffer never reached its bound: " + most);
      assertTrue(most <= HIGH_MARK + 128 * 1024, "past the bound plus one write: " + most);
      assertTrue(n.stats().writesRefused.sum() >= 21, "refusals counted");

      redis.resume();
      Conditions.await(
          "Redis read what waited", () -> engine.sendBufferBytes() == 0, Duration.ofSeconds(30));
      long next = seq + 1;
      ServerFrame ack = phone.answerTo(phone.write("after", next, "v", "back"));
      assertTrue(ack.hasAck(), ack.toString());
    }
  }
}
