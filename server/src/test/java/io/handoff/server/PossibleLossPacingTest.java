package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.client.ConnectionState;
import io.handoff.client.HandoffClient;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.netty.channel.EventLoopGroup;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A node's sessions re-read their documents after the broker may have lost events, and each re-read
 * goes to Redis: a node with thousands of users told all at once would queue them all behind each
 * other and the devices' own commands. So it tells them paced, 256 users per 50 ms (docs/redis.md),
 * whatever made it: Lettuce subscribing every channel again at once after Redis dropped the node's
 * pub/sub connections, or a failover seen in a Redis Cluster's topology; on real Redis processes,
 * with a node holding 1,500 users.
 */
class PossibleLossPacingTest {
  private static final int USERS = 1500;
  // RedisBroker's pacing, as docs/redis.md gives it.
  private static final int BATCH = 256;
  private static final long PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  /**
   * Every channel on the node's shared pub/sub connection ({@code --redis-on-loops} off): Lettuce
   * subscribes them again in one command, and Redis confirms them all in one answer. (On the loops'
   * connections the confirmations come per loop, read between the loops' other work.)
   */
  @Test
  @Tag("fault") // 1,500 users, 10-15 s.
  void aResubscriptionOfEveryChannelTellsTheSessionsPacedNotAllAtOnce() throws Exception {
    String url = RedisProcess.sharedUrl();
    StoreLimits limits = StoreLimits.builder().build();
    GatedEngine gated = new GatedEngine(RedisEngine.connect(url, nodes.prefix, limits));
    connectUsers(gated, b -> b.storeLimits(limits).redisOnLoops(false));

    RedisClient admin = RedisClient.create(url);
    nodes.add(admin::shutdown);
    try (StatefulRedisConnection<String, String> c = admin.connect()) {
      c.sync().clientKill(KillArgs.Builder.typePubsub());
    }
    assertToldPaced(gated, "a resubscription");
  }

  /**
   * A failover in a Redis Cluster (a replica promoted by {@code CLUSTER FAILOVER}, which drops no
   * connection) is seen in the topology, and every session of the node re-reads.
   */
  @Test
  @Tag("fault") // 1,500 users on a fresh six-process Cluster: under the full suite's load their
  // subscriptions time out and the node sees losses of its own before the failover.
  void aClusterFailoverTellsTheSessionsPacedNotAllAtOnce() throws Exception {
    ReplicatedCluster cluster = nodes.add(ReplicatedCluster.start());
    StoreLimits limits = StoreLimits.builder().build();
    GatedEngine gated =
        new GatedEngine(RedisEngine.connectCluster(cluster.seeds(), nodes.prefix, limits));
    connectUsers(gated, b -> b.storeLimits(limits));

    ReplicatedCluster.Instance master = cluster.masterOf(0);
    ReplicatedCluster.Instance replica = cluster.replicaOf(master);
    cluster.call(replica, r -> r.clusterFailover(false));
    assertToldPaced(gated, "a failover");
  }

  /** A node on {@code gated} with a device of each of {@link #USERS} users, all welcomed. */
  private void connectUsers(GatedEngine gated, Consumer<ServerConfig.Builder> config)
      throws Exception {
    HandoffServer node = nodes.start("a", gated, b -> config.accept(b.connectRatePerAddress(0, 1)));
    EventLoopGroup group = HandoffClient.newEventLoopGroup(2);
    nodes.add(() -> group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(10, TimeUnit.SECONDS));
    URI at = URI.create("ws://127.0.0.1:" + node.port() + "/ws");
    List<HandoffClient> clients = new ArrayList<>();
    for (int i = 0; i < USERS; i++) {
      HandoffClient c =
          HandoffClient.builder()
              .url(at)
              .token(TestServer.token("pace" + i, "phone"))
              .followDocuments("cart")
              .eventLoopGroup(group)
              .build();
      nodes.add(c);
      clients.add(c);
      c.connect();
    }
    // A Welcome comes only once the user's channel is subscribed, its first confirmation read.
    Conditions.await(
        "every device welcomed",
        () -> clients.stream().allMatch(c -> c.state() == ConnectionState.CONNECTED),
        Duration.ofSeconds(60));
    assertEquals(0, gated.possibleLosses());
    gated.resetPeakReadsInFlight();
  }

  /**
   * Waits until every user was told, and checks the pace: the k-th batch after a user's starts at
   * least k pauses after it, so users i and i + k x 256 are told at least k x 50 ms apart.
   */
  private static void assertToldPaced(GatedEngine gated, String after) {
    Conditions.await(
        "every user told events may have been lost",
        () -> gated.possibleLosses() >= USERS,
        Duration.ofSeconds(60));
    List<Long> told = gated.possibleLossTimes();
    Collections.sort(told);
    String seen =
        told.size()
            + " tellings within "
            + TimeUnit.NANOSECONDS.toMillis(told.get(told.size() - 1) - told.get(0))
            + " ms; at most "
            + gated.peakReadsInFlight()
            + " store reads in flight at once, of "
            + USERS
            + " users";
    System.out.println("possible loss after " + after + ": " + seen);
    for (int i = 0; i < told.size(); i++) {
      for (int k = 1; i + k * BATCH < told.size(); k++) {
        long apart = told.get(i + k * BATCH) - told.get(i);
        assertTrue(
            apart >= k * PAUSE_NANOS,
            "tellings "
                + i
                + " and "
                + (i + k * BATCH)
                + " "
                + apart / 1000
                + " us apart: "
                + seen);
      }
    }
  }
}
