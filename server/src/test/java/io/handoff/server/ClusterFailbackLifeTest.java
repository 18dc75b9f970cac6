package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.handoff.server.sync.Broker;
import io.handoff.server.sync.DocumentEvent;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A Redis Cluster master handed to its replica with {@code CLUSTER FAILOVER} and back again,
 * nothing lost: each change of masters makes the node's sessions re-read (a failover seen), but the
 * old master made master again is a master the node saw leave, not a master whose replication
 * history changed under it, so the node does not count a store reset ("may have lost data") for it.
 * A wipe of another master is counted, each time. On real Redis processes.
 */
@Tag("fault") // A six-process Cluster, two failovers and a health tick after each: about 15 s.
class ClusterFailbackLifeTest {
  private final ReplicatedCluster cluster;
  private RedisEngine engine;

  ClusterFailbackLifeTest() throws Exception {
    cluster = ReplicatedCluster.start();
  }

  @AfterEach
  void tearDown() {
    if (engine != null) {
      engine.close();
    }
    cluster.close();
  }

  @Test
  void aFailbackWithNothingLostIsNoStoreResetButEachWipeIs() throws Exception {
    engine =
        RedisEngine.connectCluster(
            cluster.seeds(), "test-" + UUID.randomUUID() + ":", StoreLimits.builder().build());
    AtomicLong losses = new AtomicLong();
    Broker.Subscription sub =
        engine
            .broker()
            .subscribe(
                "ann",
                new Broker.Listener() {
                  @Override
                  public void onEvent(DocumentEvent event) {}

                  @Override
                  public CompletableFuture<?> onPossibleLoss() {
                    losses.incrementAndGet();
                    return CompletableFuture.completedFuture(null);
                  }
                });
    sub.ready().get(10, TimeUnit.SECONDS);
    ReplicatedCluster.Instance master = cluster.masterOf(0);
    ReplicatedCluster.Instance replica = cluster.replicaOf(master);
    // A master of other slots, wiped by the test: its reset, counted at the node's next health
    // tick, says that tick checked every master under the topology the node had by then.
    ReplicatedCluster.Instance other = cluster.masterOf(16383);

    cluster.call(replica, r -> r.clusterFailover(false));
    failoverSeen(losses);
    wipeSeen(other);

    cluster.call(master, r -> r.clusterFailover(false));
    failoverSeen(losses);
    wipeSeen(other);
    // A tick after the one that counted the wipe above: every master's check of that tick judged.
    wipeSeen(other);
    assertEquals(
        3,
        engine.storeResets(),
        "only the wipes are resets: the failback lost nothing, and its failover was seen");
  }

  /** Waits until the node saw a change of masters (its listeners told of a possible loss). */
  private void failoverSeen(AtomicLong losses) {
    long before = losses.get();
    ReplicatedCluster.await(
        "the node sees the change of masters", () -> losses.get() > before, Duration.ofSeconds(30));
  }

  /** Wipes {@code other} and waits until the node counted a store reset since. */
  private void wipeSeen(ReplicatedCluster.Instance other) {
    long before = engine.storeResets();
    cluster.call(other, r -> r.flushall());
    ReplicatedCluster.await(
        "the node counts the wipe", () -> engine.storeResets() > before, Duration.ofSeconds(30));
  }
}
