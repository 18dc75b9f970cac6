package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The store's health on a Redis Cluster of this test's own: every master is checked, so one hung
 * shard (SIGSTOP of its only process) makes the node not ready, and it is ready again once the
 * shard answers.
 */
class RedisClusterHealthTest {
  private final Nodes nodes = new Nodes();
  private final RedisClusterProcess.Private cluster = nodes.add(RedisClusterProcess.startPrivate());
  private final Signal healthChanged = new Signal();
  private String pausedPid;

  @AfterEach
  void tearDown() throws Exception {
    if (pausedPid != null) {
      signal("-CONT", pausedPid);
    }
    nodes.close();
  }

  private static String pid(String url) {
    try (RedisClient client = RedisClient.create(url);
        StatefulRedisConnection<String, String> c = client.connect()) {
      for (String line : c.sync().info("server").split("\r?\n")) {
        if (line.startsWith("process_id:")) {
          return line.substring("process_id:".length()).trim();
        }
      }
    }
    throw new AssertionError("no process_id in INFO server of " + url);
  }

  private static void signal(String sig, String pid) throws Exception {
    Process kill = new ProcessBuilder("kill", sig, pid).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
    assertEquals(0, kill.exitValue(), "kill " + sig + " " + pid);
  }

  private static int readyz(HandoffServer node) throws Exception {
    URI uri = URI.create("http://127.0.0.1:" + node.port() + "/readyz");
    return HttpClient.newHttpClient()
        .send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString())
        .statusCode();
  }

  @Test
  void oneHungMasterOutOfThreeMakesTheNodeNotReadyUntilItAnswersAgain() throws Exception {
    HandoffServer node = nodes.cluster(cluster.seeds(), "a");
    ((RedisEngine) node.engine()).onHealthChange(healthChanged::fire);
    assertEquals(200, readyz(node));

    // The last seed: keyless commands go to one node, and the check must not depend on which.
    pausedPid = pid(cluster.seeds().get(cluster.seeds().size() - 1));
    signal("-STOP", pausedPid);
    healthChanged.await(
        "/readyz answers 503 while one master hangs",
        () -> !node.engine().healthy(),
        Duration.ofSeconds(10));
    assertEquals(503, readyz(node));

    signal("-CONT", pausedPid);
    pausedPid = null;
    healthChanged.await(
        "/readyz answers 200 once the master answers",
        node.engine()::healthy,
        Duration.ofSeconds(10));
    assertEquals(200, readyz(node));
  }
}
