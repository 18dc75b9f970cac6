package io.handoff.server.engine.redis;

import static io.handoff.server.Writes.numbered;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.handoff.server.MutableClock;
import io.handoff.server.RedisProcess;
import io.handoff.server.engine.StoreLimits;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * With --durable-acks, a write stored before an erasure began whose confirmation round runs after
 * the erasure's deletion: the round's probe must not make a key named for the erased user again
 * (security.md: everything of the user stored before the erasure began is gone). The shared Redis
 * has no replica, so each round's WAIT waits its whole timeout: the first write's round holds the
 * master's one round at a time while a second write is applied and the user is erased, and the
 * second write's round runs after that. About 22 s: in the fault suite.
 */
@Tag("fault")
class RedisDurableProbeAfterErasureTest {
  private static final Duration ROUND = Duration.ofSeconds(10);

  @Test
  void aRoundAfterTheErasureLeavesNoKeyOfTheUser() throws Exception {
    String prefix = "test-" + UUID.randomUUID() + ":";
    String user = "user-" + UUID.randomUUID();
    StoreLimits limits = StoreLimits.builder().durableAcks(1).durableAckTimeout(ROUND).build();
    try (RedisEngine engine =
        RedisEngine.connect(RedisProcess.sharedUrl(), prefix, limits, new MutableClock())) {
      CompletableFuture<?> first = engine.store().write(user, "phone", numbered("doc", 1));
      CompletableFuture<?> second = engine.store().write(user, "phone", numbered("doc", 2));
      // Both applied (the second's round waits for the first's); now the user is erased.
      engine.erase(user).get(ROUND.toSeconds(), TimeUnit.SECONDS);
      assertFalse(
          first.isDone(),
          "the first round still waits (the erasure took longer than the round's "
              + ROUND
              + ": nothing was ordered)");
      first.handle((o, e) -> null).get(3 * ROUND.toSeconds(), TimeUnit.SECONDS);
      second.handle((o, e) -> null).get(3 * ROUND.toSeconds(), TimeUnit.SECONDS);

      assertEquals(
          List.of(),
          RedisKeyspace.userTraces(List.of(RedisProcess.sharedUrl()), prefix, user),
          "keys of the user after the erasure");
    }
  }
}
