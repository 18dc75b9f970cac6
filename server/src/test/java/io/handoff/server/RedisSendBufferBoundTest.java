package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.channel.epoll.Epoll;
import java.time.Clock;
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
  private final Nodes nodes = new Nodes();
  private final RedisProcess redis = nodes.add(RedisProcess.startInMemory());

  @AfterEach
  void tearDown() {
    nodes.close(); // Resumes the Redis first if a test left it paused.
  }

  @Test
  void writesPastTheSendBuffersBoundAreRefusedUnsentWhileRedisIsHung() throws Exception {
    assumeTrue(Epoll.isAvailable(), "epoll is not offered here");
    // 1,000 writes of 60 KiB in flight (the count bound) is past the send buffer's bound.
    HandoffServer n =
        nodes.redis(
            redis.url(), "n1", Clock.systemUTC(), b -> b.maxInFlightWriteBytes(1L << 30, 1L << 30));
    SendBufferFlood phone = SendBufferFlood.connect(n, "u1");
    try (TestDevice device = phone.device()) {
      redis.pause();
      int refused = phone.untilRefused();
      // A loop's connection is written by its loop, which checks the bound before each write.
      phone.withinBound(128 * 1024);
      assertTrue(n.stats().writesRefused.sum() >= refused, "refusals counted");

      redis.resume();
      phone.appliedAgain();
    }
  }
}
