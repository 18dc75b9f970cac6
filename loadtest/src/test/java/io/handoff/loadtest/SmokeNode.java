package io.handoff.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.server.HandoffServer;
import io.handoff.server.ServerConfig;
import io.handoff.server.auth.DevTokens;
import io.handoff.server.engine.memory.MemoryEngine;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * A real node in this JVM on the memory engine, which a smoke test class ({@link
 * ScenarioSmokeTest}, {@link ReconnectSmokeTest}, {@link IdleSmokeTest}) starts and runs its
 * scenarios against, and the checks they share ({@link #awaitWritesApplied} also serves {@link
 * NodeLossTest}). Closed by the class that started it.
 */
final class SmokeNode implements AutoCloseable {
  /** Long enough that a device starved of CPU on a busy machine is not closed as idle. */
  static final Duration HEARTBEAT = Duration.ofSeconds(10);

  final String secret = DevTokens.randomSecret();
  final MemoryEngine engine;
  final HandoffServer server;
  final String url;

  private SmokeNode(String nodeId, Duration heartbeat) throws InterruptedException {
    ServerConfig config = config(nodeId, heartbeat);
    engine = new MemoryEngine(config.storeLimits());
    server = HandoffServer.start(config, engine);
    url = url(server);
  }

  /** A node with {@link #HEARTBEAT}. */
  static SmokeNode start(String nodeId) throws InterruptedException {
    return start(nodeId, HEARTBEAT);
  }

  /** A node that closes a connection silent for two {@code heartbeat} intervals. */
  static SmokeNode start(String nodeId, Duration heartbeat) throws InterruptedException {
    return new SmokeNode(nodeId, heartbeat);
  }

  /**
   * Another node on the same store and secret, with its own heartbeat interval (the server closes a
   * connection silent for two of them); the caller closes it.
   */
  HandoffServer another(String nodeId, Duration heartbeat) throws InterruptedException {
    return HandoffServer.start(config(nodeId, heartbeat), engine);
  }

  static String url(HandoffServer node) {
    return "ws://127.0.0.1:" + node.port() + "/ws";
  }

  private ServerConfig config(String nodeId, Duration heartbeat) {
    return ServerConfig.builder()
        .host("127.0.0.1")
        .port(0)
        .nodeId(nodeId)
        .jwtSecret(secret)
        .heartbeatInterval(heartbeat)
        .build();
  }

  /**
   * Waits until {@code node} has applied {@code writes} writes (a point in a run's writing that no
   * clock has to guess on a busy machine), or until {@code runOver} is set.
   */
  static void awaitWritesApplied(HandoffServer node, long writes, AtomicBoolean runOver) {
    while (node.stats().writesApplied.sum() < writes && !runOver.get()) {
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
    }
  }

  /** Nothing lost, duplicated, reordered, unacked or wrong, and the run says ok. */
  static void assertNothingWentWrong(Map<String, String> json) {
    assertEquals("0", json.get("lost"), "lost");
    assertEquals("0", json.get("duplicated"), "duplicated");
    assertEquals("0", json.get("reordered"), "reordered");
    assertEquals("0", json.get("errors"), "errors");
    if (json.containsKey("unacked")) {
      assertEquals("0", json.get("unacked"), "unacked");
      assertEquals("0", json.get("applied_out_of_order"), "applied_out_of_order");
      assertEquals("0", json.get("version_reused"), "version_reused");
    }
    assertEquals("true", json.get("ok"), "ok");
  }

  @Override
  public void close() {
    server.close();
    engine.close();
  }
}
