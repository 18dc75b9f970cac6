package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.handoff.protocol.v1.Write;
import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.Writes;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Review (promise 11): with --durable-acks, every confirmation round writes a probe key in the
 * user's slot; after DELETE /v1/me (Engine.erase) nothing of the user may be left, the probe
 * included (it names no user).
 */
class RedisDurableProbeErasureTest {
  @Test
  void erasureLeavesNoDurableAckProbeOfTheUser() throws Exception {
    String prefix = "test-" + UUID.randomUUID() + ":";
    String user = "user-" + UUID.randomUUID();
    StoreLimits limits =
        StoreLimits.builder().durableAcks(1).durableAckTimeout(Duration.ofMillis(200)).build();
    try (RedisEngine engine =
        RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, new MutableClock())) {
      Write w = Writes.set("doc", 1, "f", "v");
      // The shared Redis has no replica: the round times out (OUTCOME_UNKNOWN), the write is
      // applied.
      engine.store().write(user, "phone", w).handle((o, e) -> null).get(10, TimeUnit.SECONDS);
      String glob = RedisKeyspace.userKeys(prefix, user);
      List<String> before = RedisKeyspace.keys(List.of(RedisProcess.sharedUrl()), glob);
      assertFalse(before.isEmpty());

      engine.erase(user).get(10, TimeUnit.SECONDS);

      assertEquals(
          List.of(),
          RedisKeyspace.keys(List.of(RedisProcess.sharedUrl()), glob),
          "keys of the user left after erasure");
    }
  }
}
