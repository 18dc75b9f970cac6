package io.handoff.server;

import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.memory.MemoryEngine;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/** A real node on 127.0.0.1, a free port, and the in-memory engine, for end-to-end tests. */
public final class TestServer implements AutoCloseable {
  public static final String SECRET = "test-secret-0123456789-0123456789-abcdef";

  public final HandoffServer server;
  public final MemoryEngine engine;

  private TestServer(ServerConfig config, Clock clock, Scheduler time) throws InterruptedException {
    this.engine = new MemoryEngine(config.storeLimits(), clock);
    this.server = HandoffServer.start(config, engine, time);
  }

  public static TestServer start() throws InterruptedException {
    return start(b -> {});
  }

  public static TestServer start(Consumer<ServerConfig.Builder> customize)
      throws InterruptedException {
    return start(Clock.systemUTC(), customize);
  }

  /** A node whose engine runs on {@code clock}; the node itself on the real time. */
  public static TestServer start(Clock clock, Consumer<ServerConfig.Builder> customize)
      throws InterruptedException {
    return new TestServer(config(customize), clock, Scheduler.system());
  }

  /**
   * A node, and its engine, on fake time: clocks and timers move only when the test advances {@code
   * time}.
   */
  public static TestServer start(FakeScheduler time, Consumer<ServerConfig.Builder> customize)
      throws InterruptedException {
    return new TestServer(config(customize), time.clock(), time);
  }

  private static ServerConfig config(Consumer<ServerConfig.Builder> customize) {
    ServerConfig.Builder b =
        ServerConfig.builder()
            .host("127.0.0.1")
            .port(0)
            .nodeId("test")
            .jwtSecret(SECRET)
            .storeLimits(StoreLimits.builder().build());
    customize.accept(b);
    return b.build();
  }

  public int port() {
    return server.port();
  }

  public String url() {
    return "ws://127.0.0.1:" + port() + "/ws";
  }

  /**
   * A client builder for {@code user}'s {@code device} at {@code url}, with a token of this
   * server's secret and quick reconnects (20 ms, at most 200 ms): the tests' usual client.
   */
  public static HandoffClient.Builder clientBuilder(String url, String user, String device) {
    return HandoffClient.builder()
        .url(URI.create(url))
        .token(token(user, device))
        .reconnectBackoff(Duration.ofMillis(20), Duration.ofMillis(200));
  }

  public static String token(String user, String device) {
    return DevTokens.mint(SECRET, user, device, Duration.ofHours(1));
  }

  /**
   * Takes the states a client's listener put in {@code states}, in order, up to {@code expected};
   * fails if none comes within {@code waitSeconds} of the one before.
   */
  public static void awaitState(
      BlockingQueue<ConnectionState> states, ConnectionState expected, long waitSeconds)
      throws InterruptedException {
    ConnectionState seen;
    do {
      seen = states.poll(waitSeconds, TimeUnit.SECONDS);
      if (seen == null) {
        throw new AssertionError("state " + expected + " not reached within " + waitSeconds + " s");
      }
    } while (seen != expected);
  }

  @Override
  public void close() {
    server.close();
    engine.close();
  }
}
