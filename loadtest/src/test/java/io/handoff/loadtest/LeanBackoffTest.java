package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.handoff.client.HandoffClient;
import io.handoff.server.HandoffServer;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.memory.MemoryEngine;
import io.netty.channel.EventLoopGroup;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The lean connection's reconnect backoff starts over only after a connection that lasted, as the
 * clients' does: connections that end right after their Welcome keep growing it, so a node that
 * welcomes and then closes at once is not called back at the shortest delay for ever.
 */
class LeanBackoffTest {
  private static final String SECRET = DevTokens.randomSecret();
  private static final Duration BOUND = Duration.ofSeconds(30);

  @Test
  @Timeout(120)
  void theBackoffGrowsOverShortConnectionsAndStartsOverAfterOneThatLasted() throws Exception {
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("loadtest-lean-backoff")
            .jwtSecret(SECRET)
            .build();
    MemoryEngine engine = new MemoryEngine(config.storeLimits());
    HandoffServer server = HandoffServer.start(config, engine);
    EventLoopGroup group = HandoffClient.newEventLoopGroup(1);
    AtomicLong clock = new AtomicLong();
    Stats stats = new Stats();
    Device device = new Device(0, 0, 0, 1, new DocLog[] {new DocLog()}, stats, true);
    LeanLink link =
        new LeanLink(
            device,
            group.next(),
            List.of(URI.create("ws://127.0.0.1:" + server.port() + "/ws")),
            null,
            new Tokens(SECRET).mint("backoff-user", device.deviceId, Duration.ofMinutes(10)),
            "lean-backoff-test",
            Duration.ofSeconds(10),
            64,
            1,
            clock::get);
    try {
      link.connect().get(30, TimeUnit.SECONDS);
      // Four connections that each end at once, on the link's clock, after their Welcome: each
      // takes the backoff one attempt further (delays of up to 0.1, 0.2, 0.4, 0.8 s).
      for (int i = 1; i <= 4; i++) {
        int dropped = i;
        await("welcomed again", device::isUp, BOUND);
        link.drop();
        await("dropped", () -> stats.disconnects.sum() == dropped, BOUND);
        assertEquals(i, attempt(link), "backoff attempt after " + i + " short connections");
      }
      // A connection that lasted 10 s ends: the backoff starts over (its first delay taken).
      await("welcomed again", device::isUp, BOUND);
      clock.addAndGet(LeanLink.STABLE_CONNECTION_NANOS);
      link.drop();
      await("dropped", () -> stats.disconnects.sum() == 5, BOUND);
      assertEquals(1, attempt(link), "backoff attempt after a connection that lasted");
    } finally {
      link.close();
      group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
      server.close();
      engine.close();
    }
  }

  private static void await(String what, BooleanSupplier condition, Duration bound) {
    long deadline = System.nanoTime() + bound.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("not within " + bound + ": " + what);
      }
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
    }
  }

  private static int attempt(LeanLink link) throws Exception {
    return link.loop().submit(link::backoffAttempt).get(10, TimeUnit.SECONDS);
  }
}
