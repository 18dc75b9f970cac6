package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.ReplicatedCluster.Instance;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.KillArgs;
import io.lettuce.core.cluster.SlotHash;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A Redis Cluster master killed with SIGKILL mid-load, again and again: its replica takes over, the
 * old master is started again and joins as the new master's replica. Replication is asynchronous,
 * so without durable acks a write acked by the old master may be missing on the new one; the
 * promise is then that no device silently keeps it: every device ends on exactly the store's
 * document, and the divergence metric counts the devices that were resynced. Also measured: the
 * time from the promotion to the first acked write of a user on the shard. With durable acks (one
 * replica must hold a write before its ack) no acked write may be lost at all.
 */
class ClusterFailoverFaultTest {
  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  /** What one run found. */
  record Run(StoreTruth truth, long metric, List<Long> servedMillis, List<Long> promotionMillis) {}

  /**
   * {@code lag}: before each kill the replica is paused (SIGSTOP) and the master cuts its link to
   * it ({@code CLIENT KILL TYPE slave}) until more writes of the shard's users were acked; the
   * replica is resumed right after the kill, so the promoted replica misses acked writes for sure
   * (without it, replication on one machine rarely falls behind at the moment of a kill).
   */
  Run run(int users, int devices, int kills, boolean lag, Consumer<StoreLimits.Builder> settings)
      throws Exception {
    ReplicatedCluster cluster = nodes.add(ReplicatedCluster.start());
    StoreLimits.Builder limits = StoreLimits.builder().historyLength(StoreTruth.HISTORY);
    settings.accept(limits);
    HandoffServer n1 = nodes.cluster(cluster.seeds(), "n1", limits.build());
    HandoffServer n2 = nodes.cluster(cluster.seeds(), "n2", limits.build());
    List<String> names = new ArrayList<>();
    for (int u = 0; u < users; u++) {
      names.add("failover-" + u);
    }
    // The shard killed is the one of the first user; the users on it are the ones measured.
    int slot = SlotHash.getSlot(names.get(0));
    Instance target = cluster.masterOf(slot);
    Set<String> onShard = new TreeSet<>();
    for (String name : names) {
      if (cluster.masterOf(SlotHash.getSlot(name)) == target) {
        onShard.add(name);
      }
    }
    FaultLoad load =
        nodes.add(new FaultLoad(FaultLoad.urls(n1, n2), names, devices, Duration.ofMillis(20), 32));
    load.start();
    List<Long> served = new ArrayList<>();
    List<Long> promotions = new ArrayList<>();
    for (int k = 0; k < kills; k++) {
      load.awaitMoreAcked(10L * users * devices, Duration.ofSeconds(90));
      Instance master = cluster.masterOf(slot);
      Instance replica = cluster.replicaOf(master);
      String replicaPid = Long.toString(replica.pid());
      if (lag) {
        RedisProcess.signal("-STOP", replicaPid);
        // What the master already sent sits in the paused replica's socket buffer and would still
        // arrive: cut the link, so that what the master acks from now on never reaches it.
        cluster.call(master, r -> r.clientKill(KillArgs.Builder.typeSlave()));
        long paused = System.nanoTime();
        // Issued after the cut, not merely acked after it: a write the master applied before the
        // cut, with its ack still on the way, is in the replica's socket buffer.
        load.changed.await(
            "writes of the shard issued and acked while its replica is paused",
            () -> load.ackedIssuedAfter(paused, onShard) > 0,
            Duration.ofSeconds(30));
        load.awaitMoreAcked(users * devices, Duration.ofSeconds(30));
      }
      long killed = System.nanoTime();
      master.kill();
      if (lag) {
        RedisProcess.signal("-CONT", replicaPid);
      }
      ReplicatedCluster.await(replica + " promoted", replica::isMaster, Duration.ofSeconds(30));
      long promoted = System.nanoTime();
      promotions.add(TimeUnit.NANOSECONDS.toMillis(promoted - killed));
      // Started again at once, as a supervisor would: it comes back empty and joins as the
      // promoted node's replica (with durable acks, the shard acks nothing until it has one).
      master.start();
      load.changed.await(
          "a write of a user on the shard acked after the promotion",
          () -> load.firstAckAfterMillis(promoted, onShard) >= 0,
          Duration.ofSeconds(60));
      served.add(load.firstAckAfterMillis(promoted, onShard));
      ReplicatedCluster.await(
          master + " is a replica again", () -> !master.isMaster(), Duration.ofSeconds(60));
      cluster.awaitHealthy();
    }
    load.awaitMoreAcked(10L * users * devices, Duration.ofSeconds(90));
    load.stopAndSettle(Duration.ofSeconds(90));
    StoreTruth truth =
        StoreTruth.read(n1.engine().store(), load).checkConvergence(load, Duration.ofSeconds(60));
    long metric = n1.stats().divergenceResyncs.sum() + n2.stats().divergenceResyncs.sum();
    System.out.printf(
        "ClusterFailoverFaultTest (%d kills, %s): %s; users on the shard %d of %d;"
            + " devices resynced %d (snapshots %d), divergence metric %d;"
            + " kill-to-promotion ms %s; promotion-to-served ms %s; closes by code %s;"
            + " answered OUTCOME_UNKNOWN %d, writes re-sent %d%n",
        kills,
        limits.build(),
        truth,
        onShard.size(),
        users,
        load.devicesResynced(),
        load.resyncs(),
        metric,
        promotions,
        served,
        load.closesByCode(),
        n1.stats().writesOutcomeUnknown.sum() + n2.stats().writesOutcomeUnknown.sum(),
        load.writesResent());
    assertEquals(
        0, truth.diverged, "every device ends on the store's document\n" + truth.problemsSample());
    assertEquals(0, truth.olderFinal, truth.problemsSample());
    assertEquals(0, truth.reordered, truth.problemsSample());
    assertEquals(0, truth.duplicated, truth.problemsSample());
    assertEquals(0, truth.notAppliedButApplied, truth.problemsSample());
    assertEquals(0, truth.pending);
    assertTrue(
        metric >= load.devicesResynced(),
        "the divergence metric ("
            + metric
            + ") counts every resynced device ("
            + load.devicesResynced()
            + ")");
    if (lag) {
      assertTrue(truth.lost > 0, "the paused replica missed acked writes: " + truth);
      assertTrue(load.devicesResynced() > 0, "the devices that held them were resynced");
    }
    return new Run(truth, metric, served, promotions);
  }

  @Test
  void masterKilledOnceMidLoadEveryDeviceEndsOnTheStoresDocument() throws Exception {
    run(6, 2, 1, true, b -> {});
  }

  @Test
  @Tag("fault")
  void masterKilledTenTimesWithoutDurableAcksNoDeviceSilentlyDiverges() throws Exception {
    run(12, 3, 10, true, b -> {});
  }

  // Tagged for its length (a private six-process Cluster). The hang these durable runs found, a
  // confirmation arriving while the document was re-read after a failover, is reproduced in the
  // default run by WriteAnswerTest.
  @Test
  @Tag("fault")
  void masterKilledOnceMidLoadWithDurableAcksLosesNoAckedWrite() throws Exception {
    Run r = run(6, 2, 1, false, b -> b.durableAcks(1));
    assertEquals(0, r.truth().lost, "acked writes missing after the failover: " + r.truth());
  }

  @Test
  @Tag("fault")
  void masterKilledTenTimesWithDurableAcksLosesNoAckedWrite() throws Exception {
    Run r = run(12, 3, 10, false, b -> b.durableAcks(1));
    assertEquals(0, r.truth().lost, "acked writes missing after the failovers: " + r.truth());
  }
}
