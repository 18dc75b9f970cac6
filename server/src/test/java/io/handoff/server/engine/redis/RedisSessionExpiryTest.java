package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.Conditions;
import io.handoff.server.MutableClock;
import io.handoff.server.devices.SessionStore;
import io.handoff.server.devices.SessionStore.Rotation.Outcome;
import io.handoff.server.engine.StoreLimits;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The keys of a live device session expire together: being seen renews the rotated-out hashes
 * ({@code do:SID}) with the session, so a rotated-out token coming back revokes the session (as on
 * the memory engine) for as long as the session lives, instead of reading as unknown once those
 * hashes expired on their own (Redis's clock, which the engine's clock does not move).
 */
class RedisSessionExpiryTest {
  private static final Duration IDLE = Duration.ofHours(1);

  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private final MutableClock clock = new MutableClock(1_700_000_000_000L);
  private final String user = "u-" + UUID.randomUUID();
  private EngineWithRawRedis fixture;
  private SessionStore sessions;

  @BeforeEach
  void start() {
    fixture =
        new EngineWithRawRedis(
            prefix, StoreLimits.builder().idleTtl(IDLE).maxDevicesPerUser(3).build(), clock);
    sessions = fixture.engine.sessions();
  }

  @AfterEach
  void stop() {
    fixture.close();
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(10, TimeUnit.SECONDS);
  }

  private static byte[] h(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aSessionSeenKeepsItsRotatedOutHashesSoAReusedTokenStillRevokesIt() throws Exception {
    get(sessions.create(user, "s1", "phone", "P", "ios", h("h1")));
    assertEquals(
        Outcome.ROTATED,
        get(sessions.rotate(user, "s1", h("h1"), h("h2"), Long.MAX_VALUE)).outcome());
    String rotatedOut = prefix + "{" + user + "}:do:s1";
    assertEquals(1, fixture.redis.exists(rotatedOut));
    // Stands in for the time since that rotation: the hashes' TTL, set then, is nearly over, while
    // the session, seen now, lives for one idle TTL from now.
    fixture.redis.pexpire(rotatedOut, 5_000);
    clock.advance(Duration.ofMinutes(1));
    get(sessions.seen(user, "s1", "node-a", true));
    Conditions.await(
        "the rotated-out hashes were renewed, or expired",
        () -> {
          long ttl = fixture.redis.pttl(rotatedOut);
          return ttl == -2 || ttl > 5_000;
        },
        Duration.ofSeconds(30));
    assertTrue(get(sessions.status(user, "s1")).alive());
    assertEquals(
        Outcome.REUSED,
        get(sessions.rotate(user, "s1", h("h1"), h("h9"), Long.MAX_VALUE)).outcome(),
        "a rotated-out token of a live session must revoke it");
    assertTrue(get(sessions.status(user, "s1")).revoked());
  }
}
