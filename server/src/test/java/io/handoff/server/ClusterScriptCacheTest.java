package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.Activity;
import io.handoff.protocol.v1.Offer;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.handoff.HandoffStore;
import io.handoff.server.sync.WriteOutcome;
import io.lettuce.core.cluster.SlotHash;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Scripts on a Redis Cluster while one node of it is down (a dead replica of another shard, which
 * the Cluster lists with the flag {@code fail} until it comes back or is forgotten; the Cluster
 * itself is healthy and serves every slot). Loading a script must not need that node: the node
 * starts, and a shard whose primary lacks a script (a restarted replica promoted) is served again.
 */
class ClusterScriptCacheTest {
  /**
   * Shared by the tests (a start costs seconds), each under its own key prefix: each starts with
   * every node alive and every script cache empty, as a fresh Cluster is, and the replica it killed
   * is started again after it.
   */
  private static ReplicatedCluster cluster;

  private final String prefix = "test-" + UUID.randomUUID() + ":";
  private RedisEngine engine;

  @BeforeAll
  static void startCluster() throws Exception {
    cluster = ReplicatedCluster.start();
  }

  @AfterAll
  static void stopCluster() {
    cluster.close();
  }

  @BeforeEach
  void emptyScriptCaches() {
    for (ReplicatedCluster.Instance i : cluster.instances) {
      cluster.call(i, r -> r.scriptFlush());
    }
  }

  @AfterEach
  void tearDown() {
    if (engine != null) {
      engine.close();
    }
    cluster.restoreKilled();
  }

  private static int slotOf(String user) {
    return SlotHash.getSlot(("{" + user + "}").getBytes(StandardCharsets.UTF_8));
  }

  /** Kills the replica of a master other than {@code keep}'s shard and waits until it is failed. */
  private ReplicatedCluster.Instance killReplicaOfAnotherShard(ReplicatedCluster.Instance keep)
      throws Exception {
    ReplicatedCluster.Instance other = null;
    for (int m = 0; m < ReplicatedCluster.MASTERS; m++) {
      ReplicatedCluster.Instance i = cluster.instances.get(m);
      if (i != keep && i.isMaster()) {
        other = i;
        break;
      }
    }
    ReplicatedCluster.Instance dead = cluster.replicaOf(other);
    dead.kill();
    String deadId = dead.id;
    ReplicatedCluster.await(
        "the Cluster marks the dead replica failed",
        () -> {
          for (String line : cluster.call(keep, r -> r.clusterNodes()).split("\n")) {
            if (line.startsWith(deadId) && line.contains("fail") && !line.contains("fail?")) {
              return true;
            }
          }
          return false;
        },
        Duration.ofSeconds(30));
    return dead;
  }

  @Test
  void aNodeStartsWhileOneReplicaOfTheClusterIsDown() throws Exception {
    ReplicatedCluster.Instance master = cluster.masterOf(slotOf("ann"));
    killReplicaOfAnotherShard(master);

    engine = RedisEngine.connectCluster(cluster.seeds(), prefix, StoreLimits.builder().build());
    WriteOutcome o =
        engine.store().write("ann", "phone", Writes.numbered("cart", 1)).get(15, TimeUnit.SECONDS);
    assertTrue(o.isApplied(), "applied: " + o.error() + " " + o.message());
  }

  @Test
  void aPrimaryThatLostItsScriptsServesItsUsersWhileAReplicaOfAnotherShardIsDown()
      throws Exception {
    engine = RedisEngine.connectCluster(cluster.seeds(), prefix, StoreLimits.builder().build());
    String user = "ann";
    WriteOutcome first =
        engine.store().write(user, "phone", Writes.numbered("cart", 1)).get(15, TimeUnit.SECONDS);
    assertTrue(first.isApplied(), "applied before any fault: " + first.message());

    // A replica of another shard dies and stays down: every slot is still served.
    ReplicatedCluster.Instance master = cluster.masterOf(slotOf(user));
    killReplicaOfAnotherShard(master);
    // The user's primary answers NOSCRIPT, as a restarted Redis or a promoted replica does (Redis 7
    // no longer carries scripts to replicas; its script cache starts empty after every restart).
    cluster.call(master, r -> r.scriptFlush());

    WriteOutcome second =
        engine.store().write(user, "phone", Writes.numbered("cart", 2)).get(30, TimeUnit.SECONDS);
    assertTrue(
        second.isApplied(),
        "the user's shard is served: " + second.error() + " " + second.message());
  }

  @Test
  void offersWorkWhileAReplicaOfAnotherShardIsDown() throws Exception {
    engine = RedisEngine.connectCluster(cluster.seeds(), prefix, StoreLimits.builder().build());
    String user = "ann";
    WriteOutcome first =
        engine.store().write(user, "phone", Writes.numbered("cart", 1)).get(15, TimeUnit.SECONDS);
    assertTrue(first.isApplied(), "applied before any fault: " + first.message());

    killReplicaOfAnotherShard(cluster.masterOf(slotOf(user)));

    long now = System.currentTimeMillis();
    for (int i = 0; i < 3; i++) {
      Offer offer =
          Offer.newBuilder()
              .setOfferId("o" + i)
              .setFromDevice("phone")
              .setActivity(Activity.newBuilder().setDeviceId("phone").setDocument("player"))
              .setCreatedMs(now)
              .setExpiresMs(now + 60_000)
              .build();
      assertEquals(
          HandoffStore.Made.CREATED,
          engine.handoff().createOffer(user, offer, 8).get(15, TimeUnit.SECONDS).made(),
          "offer " + i + " created");
    }
  }
}
