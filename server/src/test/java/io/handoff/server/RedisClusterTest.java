package io.handoff.server;

import static io.handoff.server.MultiNodeTest.assertEveryDeviceSawEveryVersionOnceInOrder;
import static io.handoff.server.MultiNodeTest.interleavedWrites;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.HandoffClient;
import io.handoff.server.ClientEndToEndTest.Recorder;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Nodes on a real three-shard Redis Cluster: users spread over shards, fan-out crosses them. */
@ExtendWith(SampledLeakDetection.class)
class RedisClusterTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void stop() {
    nodes.close();
  }

  private HandoffServer node(String name) throws Exception {
    return nodes.cluster(name);
  }

  private HandoffClient client(int port, String user, String device, Recorder r) throws Exception {
    return nodes.client("ws://127.0.0.1:" + port + "/ws", user, device, r);
  }

  private static String url(HandoffServer node) {
    return "ws://127.0.0.1:" + node.port() + "/ws";
  }

  /** Shards (by seed) that hold at least one key of this test. */
  private int shardsHoldingKeys() {
    int n = 0;
    for (String seed : RedisClusterProcess.sharedSeeds()) {
      RedisClient admin = RedisClient.create(seed);
      try (StatefulRedisConnection<String, String> c = admin.connect()) {
        if (!c.sync().keys(nodes.prefix + "*").isEmpty()) {
          n++;
        }
      } finally {
        admin.shutdown();
      }
    }
    return n;
  }

  @Test
  void usersOnDifferentShardsGetEveryWriteOnceInOrderAcrossTwoNodes() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    int users = 6;
    int writesPerUser = 600;
    List<Thread> runs = new ArrayList<>();
    List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    List<CompletableFuture<Void>> connects = new ArrayList<>();
    HandoffClient[][] clients = new HandoffClient[users][];
    Recorder[][] recorders = new Recorder[users][];
    for (int u = 0; u < users; u++) {
      Recorder[] rs = recorders[u] = new Recorder[] {new Recorder(), new Recorder()};
      clients[u] =
          new HandoffClient[] {
            nodes.connecting(url(n1), "user-" + u, "phone", rs[0], connects),
            nodes.connecting(url(n2), "user-" + u, "laptop", rs[1], connects)
          };
    }
    Nodes.connected(connects);
    for (int u = 0; u < users; u++) {
      HandoffClient[] cs = clients[u];
      Recorder[] rs = recorders[u];
      Thread t =
          new Thread(
              () -> {
                try {
                  List<Long> versions = interleavedWrites(cs, writesPerUser, () -> {});
                  for (int v = 0; v < versions.size(); v++) {
                    assertEquals(v + 1, versions.get(v), "each write applied once");
                  }
                  assertEveryDeviceSawEveryVersionOnceInOrder(cs, rs, writesPerUser);
                } catch (Throwable e) {
                  failures.add(e);
                }
              });
      t.start();
      runs.add(t);
    }
    for (Thread t : runs) {
      t.join(TimeUnit.SECONDS.toMillis(120));
    }
    assertEquals(List.of(), failures);
    assertTrue(shardsHoldingKeys() >= 2, "the users' keys are spread over several shards");
  }

  @Test
  void afterThePubSubConnectionsAreCutDevicesRecoverWhatTheyMissed() throws Exception {
    HandoffServer n1 = node("n1");
    HandoffServer n2 = node("n2");
    Recorder[] rs = {new Recorder(), new Recorder()};
    HandoffClient[] cs = {
      client(n1.port(), "zoe", "phone", rs[0]), client(n2.port(), "zoe", "tv", rs[1])
    };
    int total = 900;
    List<Long> versions =
        interleavedWrites(
            cs,
            total,
            () -> {
              for (String seed : RedisClusterProcess.sharedSeeds()) {
                RedisClient admin = RedisClient.create(seed);
                try (StatefulRedisConnection<String, String> c = admin.connect()) {
                  c.sync().clientKill(KillArgs.Builder.typePubsub());
                } finally {
                  admin.shutdown();
                }
              }
            });
    assertEquals(total, versions.size());
    assertEveryDeviceSawEveryVersionOnceInOrder(cs, rs, total);
  }
}
