package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.server.HandoffServer;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.memory.MemoryEngine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The lean connection against a real node's per-address upgrade limit: a device refused with 429
 * waits out the refusal's Retry-After before it tries again, as the Java client does, instead of
 * coming back within its backoff (100 ms at first) to be refused again and again.
 */
class LeanRetryAfterTest {
  private static final String SECRET = DevTokens.randomSecret();

  @Test
  @Timeout(120)
  void aLeanDeviceRefusedWith429ComesBackAfterItsRetryAfterOnce() throws InterruptedException {
    // One upgrade a second from an address: of two devices connecting at once, the second is
    // refused with Retry-After 1 (the node answers the seconds until its next upgrade, rounded up,
    // and a refusal takes nothing from the address's allowance).
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("loadtest-retry-after")
            .jwtSecret(SECRET)
            .connectRatePerAddress(1, 1)
            .build();
    MemoryEngine engine = new MemoryEngine(config.storeLimits());
    HandoffServer server = HandoffServer.start(config, engine);
    try {
      Run r =
          run(
              "fanout",
              "--url",
              "ws://127.0.0.1:" + server.port() + "/ws",
              "--users",
              "1",
              "--devices",
              "2",
              "--rate",
              "50",
              "--duration",
              "200ms",
              "--jwt-secret",
              SECRET,
              "--json");
      assertEquals(0, r.exit(), r.err() + r.out());
      // Within its backoff (up to 0.1, 0.2, 0.4 s) it would have come back at least three times
      // in that second.
      assertEquals(
          1, server.stats().connectsRateLimited.sum(), "upgrades refused for the address's rate");
    } finally {
      server.close();
      engine.close();
    }
  }
}
