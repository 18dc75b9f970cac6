package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DevicePresence;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Each node numbers its own connections from 1; in the presence entries all nodes share, the same
 * number from two nodes must name two connections.
 */
class RedisConnectionNamesTest {
  private static final Duration TTL = Duration.ofSeconds(20);

  @Test
  void theSameConnectionNumberOnTwoNodesNamesTwoConnections() throws Exception {
    String prefix = "test-" + UUID.randomUUID() + ":";
    MutableClock clock = new MutableClock();
    StoreLimits limits = StoreLimits.builder().build();
    try (RedisEngine a = RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, clock);
        RedisEngine b = RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, clock)) {
      a.handoff().online("u", "phone", 1, 0, TTL, 10).get(10, TimeUnit.SECONDS);
      // The phone moved to node b, where it is that node's first connection too.
      b.handoff().online("u", "phone", 1, 0, TTL, 10).get(10, TimeUnit.SECONDS);

      assertFalse(
          a.handoff().offline("u", "phone", 1).get(10, TimeUnit.SECONDS),
          "node a's late offline names a's connection, not b's");
      assertTrue(phone(b).getOnline(), "still online through node b");
      assertTrue(b.handoff().offline("u", "phone", 1).get(10, TimeUnit.SECONDS));
      assertFalse(phone(a).getOnline());
    }
  }

  private static DevicePresence phone(RedisEngine engine) throws Exception {
    return engine.handoff().presence("u").get(10, TimeUnit.SECONDS).stream()
        .filter(p -> p.getDeviceId().equals("phone"))
        .findFirst()
        .orElseThrow();
  }
}
