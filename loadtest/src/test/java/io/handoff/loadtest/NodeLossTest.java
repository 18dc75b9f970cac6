package io.handoff.loadtest;

import static io.handoff.loadtest.Run.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.HandoffServer;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.memory.MemoryEngine;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The only node of a run goes away while the run holds its connections and does not come back: the
 * run must fail and say so, not report the figures of a healthy run.
 */
class NodeLossTest {
  private static final String SECRET = DevTokens.randomSecret();

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void idleFailsWhenItsOnlyNodeShutsDownWhileTheConnectionsAreHeld() throws Exception {
    ServerConfig config =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("loadtest-node-loss")
            .jwtSecret(SECRET)
            .heartbeatInterval(Duration.ofSeconds(10))
            .build();
    MemoryEngine engine = new MemoryEngine(config.storeLimits());
    HandoffServer node = HandoffServer.start(config, engine);
    // Shuts the node down (SHUTDOWN, a documented reconnect close) at the first line that says
    // the connections are held; the devices then find nothing to reconnect to.
    CompletableFuture<Void> holding = new CompletableFuture<>();
    Thread stopper =
        new Thread(
            () -> {
              holding.join();
              node.close();
            },
            "node-loss-stopper");
    stopper.start();
    Run run;
    try {
      run =
          run(
              line -> {
                if (line.startsWith("held")) {
                  holding.complete(null);
                }
              },
              "idle",
              "--url",
              "ws://127.0.0.1:" + node.port() + "/ws",
              "--users",
              "5",
              "--devices",
              "2",
              "--duration",
              "4s",
              "--jwt-secret",
              SECRET,
              "--json");
    } finally {
      holding.complete(null);
      stopper.join(60_000);
      node.close();
      engine.close();
    }

    assertTrue(
        run.json().get("closes").contains("\"4000\":10"),
        "the node closed every connection: " + run.lastLine());
    assertEquals("0", run.json().get("min_connections_held"), run.lastLine());
    assertEquals(
        Result.EXIT_FAILED,
        run.exit(),
        "a run that ends holding no connection fails: " + run.lastLine());
    assertEquals("false", run.json().get("ok"), run.lastLine());
    assertEquals("0", run.json().get("held_at_end"), run.lastLine());
    assertTrue(
        run.json()
            .get("problems")
            .contains("10 of 10 devices were not connected when the hold ended"),
        run.lastLine());
  }
}
