package io.handoff.server;

import static io.handoff.server.RedisSignals.pid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.DocumentSync;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The store's health on a Redis Cluster of this class's own: every master is checked, so one hung
 * shard (SIGSTOP of its only process) makes the node not ready, and it is ready again once the
 * shard answers. A wipe of one master, with every connection up, reaches the devices of its users
 * on every node. The tests share the Cluster (a start costs seconds), each under its own key
 * prefix: the hung master answers again before its test ends, far within the Cluster's node timeout
 * (15 s), and a wipe leaves the Cluster's shape as it was.
 */
class RedisClusterHealthTest {
  private static RedisClusterProcess.Private cluster;
  private final Nodes nodes = new Nodes();
  private final Signal healthChanged = new Signal();

  @BeforeAll
  static void startCluster() {
    cluster = RedisClusterProcess.startPrivate();
  }

  @AfterAll
  static void stopCluster() {
    cluster.close();
  }

  @AfterEach
  void tearDown() {
    nodes.close();
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
    String paused = nodes.pause(pid(cluster.seeds().get(cluster.seeds().size() - 1)));
    healthChanged.await(
        "/readyz answers 503 while one master hangs",
        () -> !node.engine().healthy(),
        Duration.ofSeconds(10));
    assertEquals(503, readyz(node));

    nodes.resume(paused);
    healthChanged.await(
        "/readyz answers 200 once the master answers",
        node.engine()::healthy,
        Duration.ofSeconds(10));
    assertEquals(200, readyz(node));
  }

  /** The master that owns {@code key}'s slot now. */
  private RedisURI masterOf(String key) {
    RedisClusterClient client =
        RedisClusterClient.create(cluster.seeds().stream().map(RedisURI::create).toList());
    try {
      client.refreshPartitions();
      return client
          .getPartitions()
          .getPartitionBySlot(SlotHash.getSlot(key.getBytes(StandardCharsets.UTF_8)))
          .getUri();
    } finally {
      client.shutdown();
    }
  }

  @Test
  void aWipeOfOneMasterReachesTheDevicesOfItsUsersOnEveryNode() throws Exception {
    HandoffServer a = nodes.cluster(cluster.seeds(), "a");
    HandoffServer b = nodes.cluster(cluster.seeds(), "b");
    // A user on another master than the one a single marker, named as on one Redis, would be on.
    RedisURI unmarked = masterOf(nodes.prefix + "{life}:life");
    String user = null;
    for (int i = 0; user == null; i++) {
      if (!masterOf(nodes.prefix + "{u" + i + "}:ch").equals(unmarked)) {
        user = "u" + i;
      }
    }
    TestDevice phone = nodes.add(TestDevice.connect(a.port(), TestServer.token(user, "phone")));
    phone.hello();
    TestDevice tv = nodes.add(TestDevice.connect(b.port(), TestServer.token(user, "tv")));
    tv.hello();
    for (int seq = 1; seq <= 3; seq++) {
      ServerFrame ack = phone.answerTo(phone.write("cart", seq, "f" + seq, "old"));
      assertTrue(ack.hasAck(), ack.toString());
      assertEquals(seq, tv.next(ServerFrame::hasDelta).getDelta().getVersion());
    }

    RedisURI master = masterOf(nodes.prefix + "{" + user + "}:ch");
    try (RedisClient client = RedisClient.create(master);
        StatefulRedisConnection<String, String> c = client.connect()) {
      assertEquals("OK", c.sync().flushall()); // That master only; no write after it.
    }
    for (TestDevice d : List.of(phone, tv)) {
      ServerFrame told = d.next(f -> f.hasSyncReport() || f.hasSnapshot() || f.hasDelta());
      assertTrue(told.hasSyncReport(), told.toString());
      assertEquals("cart", told.getSyncReport().getDocuments(0).getDocument());
      assertEquals(DocumentSync.Mode.GONE, told.getSyncReport().getDocuments(0).getMode());
    }
    assertEquals(DocumentSync.Mode.GONE, a.engine().store().read(user, "cart", 0, 0).join().mode());
    for (HandoffServer n : List.of(a, b)) {
      assertEquals(1, n.engine().storeResets(), "each node saw it, once");
    }
  }
}
