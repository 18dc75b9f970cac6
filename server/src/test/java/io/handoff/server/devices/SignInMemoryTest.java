package io.handoff.server.devices;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.handoff.server.MutableClock;
import io.handoff.server.ServerStats;
import io.handoff.server.auth.AccessTokens;
import io.handoff.server.auth.Principal;
import io.handoff.server.auth.SigningKeys;
import io.handoff.server.auth.TokenConfig;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Review (promise 11): the node's sign-in burst detector keeps sign-in times per user id. After
 * DELETE /v1/me, nothing of the user may stay (not even on the node), and times older than the
 * burst window are never needed again.
 */
class SignInMemoryTest {
  private final MutableClock clock = new MutableClock(1_700_000_000_000L);
  private final MemoryEngine engine = new MemoryEngine(StoreLimits.builder().build(), clock);
  private final TokenConfig tokens = TokenConfig.builder().build();
  private final DeviceSessions sessions =
      new DeviceSessions(
          tokens,
          null,
          new AccessTokens(
              SigningKeys.ephemeral(),
              tokens.issuer(),
              tokens.accessTokenTtl(),
              Duration.ofSeconds(30),
              clock),
          engine,
          "node-a",
          64,
          new ServerStats(),
          clock);

  @AfterEach
  void close() {
    engine.close();
  }

  @SuppressWarnings("unchecked")
  private Map<String, ?> signInTimes() throws Exception {
    Field f = DeviceSessions.class.getDeclaredField("signInTimes");
    f.setAccessible(true);
    return (Map<String, ?>) f.get(sessions);
  }

  @Test
  void erasureLeavesNoSignInTimesOfTheUserOnTheNode() throws Exception {
    DeviceSessions.Tokens t =
        sessions.createSession("ivy", "phone", "Phone", "ios").get(10, TimeUnit.SECONDS);
    Principal p = new Principal("ivy", "phone", clock.millis() + 60_000, t.sessionId());
    sessions.erase(p).get(10, TimeUnit.SECONDS);
    assertFalse(signInTimes().containsKey("ivy"), "sign-in times of an erased user");
  }

  @Test
  void signInTimesOlderThanTheBurstWindowAreNotKept() throws Exception {
    for (int i = 0; i < 100; i++) {
      sessions.createSession("u" + i, "phone", "Phone", "ios").get(10, TimeUnit.SECONDS);
    }
    clock.advance(tokens.signInBurstWindow().multipliedBy(2));
    sessions.createSession("later", "phone", "Phone", "ios").get(10, TimeUnit.SECONDS);
    assertEquals(1, signInTimes().size(), "users whose sign-ins are all past the window");
  }
}
