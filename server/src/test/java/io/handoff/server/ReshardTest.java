package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.cluster.SlotHash;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Live resharding under load: the slot of one user is moved from master to master (IMPORTING,
 * MIGRATING, its keys moved a few at a time with MIGRATE while that user's devices keep writing,
 * then the slot given to its new master) on a Cluster of this class's own, with two nodes. Every
 * acked write must be in the store afterwards, applied once and in each device's order; no write
 * reported as not applied may be applied; and every device ends on exactly the store's document
 * (fan-out through the user's channel reaches it from the new master).
 *
 * <p>The tests share the Cluster (a start costs seconds), each under its own key prefix and with
 * its own user's slot; each finds where that slot is now before it moves it.
 */
class ReshardTest {
  private static RedisClusterProcess.Private cluster;
  private final Nodes nodes = new Nodes();

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

  @Test
  void aUsersSlotMovedUnderLoadLosesDuplicatesAndReordersNoWrite() throws Exception {
    StoreLimits limits = StoreLimits.builder().historyLength(StoreTruth.HISTORY).build();
    HandoffServer n1 = nodes.cluster(cluster.seeds(), "n1", limits);
    HandoffServer n2 = nodes.cluster(cluster.seeds(), "n2", limits);
    List<String> users = List.of("reshard-a", "reshard-b", "reshard-c");
    String moved = users.get(0);
    int slot = SlotHash.getSlot(moved);
    FaultLoad load =
        nodes.add(new FaultLoad(FaultLoad.urls(n1, n2), users, 2, Duration.ofMillis(10), 8));
    load.start();
    load.awaitMoreAcked(30, Duration.ofSeconds(30));

    List<String> masters = cluster.seeds();
    String from = SlotMove.ownerOf(masters, slot);
    List<String> route = new ArrayList<>(masters);
    route.remove(from);
    route.add(from); // Over both other masters and home again.
    for (String to : route) {
      try (SlotMove m = new SlotMove(masters, slot, from, to)) {
        m.open();
        // A few keys at a time, each batch after more writes were sent: the user's writes meet
        // the slot half moved.
        while (true) {
          long sent = load.written.sum();
          Conditions.await(
              "writes sent", () -> load.written.sum() >= sent + 4, Duration.ofSeconds(10));
          if (m.moveKeys(2) == 0) {
            break;
          }
        }
        m.finish();
      }
      long done = System.nanoTime();
      load.changed.await(
          "a write of " + moved + " acked after the slot moved to " + to,
          () -> load.firstAckAfterMillis(done, Set.of(moved)) >= 0,
          Duration.ofSeconds(30));
      from = to;
    }
    load.awaitMoreAcked(30, Duration.ofSeconds(30));
    load.stopAndSettle(Duration.ofSeconds(60));
    StoreTruth truth =
        StoreTruth.read(n1.engine().store(), load).checkConvergence(load, Duration.ofSeconds(30));
    System.out.printf(
        "ReshardTest: %s; OUTCOME_UNKNOWN %d, re-sent %d, resyncs %d, closes %s%n",
        truth,
        n1.stats().writesOutcomeUnknown.sum() + n2.stats().writesOutcomeUnknown.sum(),
        load.writesResent(),
        load.resyncs(),
        load.closesByCode());
    assertEquals(0, truth.lost, truth.lostSample());
    assertEquals(0, truth.duplicated, truth.problemsSample());
    assertEquals(0, truth.reordered, truth.problemsSample());
    assertEquals(0, truth.notAppliedButApplied, truth.problemsSample());
    assertEquals(0, truth.olderFinal, truth.problemsSample());
    assertEquals(
        0, truth.diverged, "every device ends on the store's document\n" + truth.problemsSample());
    assertEquals(0, truth.pending);
    assertTrue(truth.acked > 0);
  }

  /** How often {@code url} answered TRYAGAIN, from its error statistics. */
  private static long tryAgains(SlotMove m, String url) {
    for (String line : m.call(url, r -> r.info("errorstats")).split("\r?\n")) {
      if (line.startsWith("errorstat_TRYAGAIN:count=")) {
        return Long.parseLong(line.substring("errorstat_TRYAGAIN:count=".length()).trim());
      }
    }
    return 0;
  }

  private List<String> keysOf(SlotMove m, String user) {
    List<String> keys = new ArrayList<>();
    for (String url : cluster.seeds()) {
      keys.addAll(m.call(url, r -> r.keys(nodes.prefix + "{" + user + "}*")));
    }
    return keys;
  }

  /**
   * Erasure finds a user's document keys through the {@code docs} and {@code wd} sets it is given.
   * With those two moved to the slot's new master and the document keys still on the old one (Redis
   * 6.2 moves a slot's keys in the order of their names, which never splits them so; Redis 7 moves
   * them newest first, and any tool may pick its own order), it must not run on either master with
   * half the keys: Redis stops it half-way ("attempted to access a non local key", answered as not
   * applied though it may have deleted part), or it reads the keys on the other master as absent.
   * Refused with TRYAGAIN instead, it is retried until the slot has moved and then erases all.
   */
  @Test
  void documentsErasedWhileTheirKeysAreHalfMovedLeaveNothingOfTheUser() throws Exception {
    HandoffServer node = nodes.cluster(cluster.seeds(), "n1");
    String user = "erased";
    TestDevice d = nodes.add(TestDevice.connect(node.port(), TestServer.token(user, "phone")));
    d.hello();
    assertTrue(d.answerTo(d.write("cart", 1, "f", "v1")).hasAck());
    d.close();
    int slot = SlotHash.getSlot(user);
    List<String> masters = cluster.seeds();
    String from = SlotMove.ownerOf(masters, slot);
    String to = masters.stream().filter(u -> !u.equals(from)).findFirst().orElseThrow();
    String base = nodes.prefix + "{" + user + "}:";
    try (SlotMove m = new SlotMove(masters, slot, from, to)) {
      assertTrue(keysOf(m, user).contains(base + "m:cart"), keysOf(m, user).toString());
      m.open();
      m.moveKeys(List.of(base + "docs", base + "wd"));
      long refused = tryAgains(m, to);
      CompletableFuture<Void> erased = node.engine().store().erase(user);
      // Either it ran (and must have found everything), or Redis refused it for now.
      Conditions.await(
          "the erasure ran or was told to try again",
          () -> erased.isDone() || tryAgains(m, to) > refused,
          Duration.ofSeconds(10));
      m.finish();
      erased.get(15, TimeUnit.SECONDS);
      // Presence is the handoff store's, erased by its own script.
      assertEquals(
          List.of(),
          keysOf(m, user).stream().filter(k -> !k.equals(base + "pr")).toList(),
          "document keys of the erased user");
    }
  }
}
