package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ErrorCode;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.ReplicatedCluster.Instance;
import io.handoff.server.engine.StoreLimits;
import io.lettuce.core.cluster.SlotHash;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Durable acks while a slot moves to another master: a write applied on the slot's new master is
 * acked only once a replica of that master holds it. The node's view of the topology lags the move
 * by up to a second, so the write's confirmation round may go to the old master, in one round with
 * writes of users that stayed there; those users' replicas must not vouch for it.
 */
class DurableAckReshardTest {
  private static final StoreLimits DURABLE =
      StoreLimits.builder().durableAcks(1).durableAckTimeout(Duration.ofSeconds(5)).build();

  private final Nodes nodes = new Nodes();
  private final ReplicatedCluster cluster;
  private final List<String> paused = new ArrayList<>();

  DurableAckReshardTest() throws Exception {
    cluster = nodes.add(ReplicatedCluster.start());
  }

  @AfterEach
  void tearDown() {
    for (String pid : paused) {
      RedisProcess.signal("-CONT", pid);
    }
    nodes.close();
  }

  private void pause(Instance i) {
    String pid = Long.toString(i.pid());
    RedisProcess.signal("-STOP", pid);
    paused.add(pid);
  }

  private void resume(Instance i) {
    String pid = Long.toString(i.pid());
    RedisProcess.signal("-CONT", pid);
    paused.remove(pid);
  }

  private String version(Instance i, String user, String doc) {
    return cluster.call(i, r -> r.hget(nodes.prefix + "{" + user + "}:m:" + doc, "version"));
  }

  private static TestDevice writer(HandoffServer node, String user) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(user, "phone"));
    d.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());
    return d;
  }

  @Test
  void aWriteAppliedOnTheSlotsNewMasterIsNotAckedOnTheOldMastersReplica() throws Exception {
    HandoffServer node = nodes.cluster(cluster.seeds(), "a", DURABLE);
    String stays = "stays";
    Instance master = cluster.masterOf(SlotHash.getSlot(stays));
    // A user of another slot on the same master: the one whose slot moves.
    String moves = null;
    for (int i = 0; moves == null; i++) {
      String name = "moves-" + i;
      if (SlotHash.getSlot(name) != SlotHash.getSlot(stays)
          && cluster.masterOf(SlotHash.getSlot(name)) == master) {
        moves = name;
      }
    }
    Instance target =
        cluster.instances.stream()
            .limit(ReplicatedCluster.MASTERS)
            .filter(i -> i != master)
            .findFirst()
            .orElseThrow();
    Instance replica = cluster.replicaOf(master);
    Instance targetReplica = cluster.replicaOf(target);
    TestDevice a = nodes.add(writer(node, stays));
    TestDevice b = nodes.add(writer(node, moves));
    assertTrue(a.answerTo(a.write("cart", 1, "f", "a1")).hasAck());
    assertTrue(b.answerTo(b.write("cart", 1, "f", "b1")).hasAck());

    // The master's confirmation round hangs in WAIT while its replica is paused.
    pause(replica);
    a.write("cart", 2, "f", "a2");
    ReplicatedCluster.await(
        "the master's round waits for its replica",
        () -> cluster.call(master, r -> r.info("clients")).contains("blocked_clients:1"),
        Duration.ofSeconds(5));
    // The next round of that master will start with this write of the user who stays (another
    // document: a write waits for the one before it of its document).
    long a3 = a.write("other", 3, "f", "a3");
    Conditions.await(
        "a3 applied", () -> "1".equals(version(master, stays, "other")), Duration.ofSeconds(5));

    // Nothing written on the target from now on can reach a replica of it.
    pause(targetReplica);
    List<String> masters =
        cluster.instances.stream().limit(ReplicatedCluster.MASTERS).map(Instance::url).toList();
    String movesUser = moves;
    SlotMove.move(masters, SlotHash.getSlot(moves), master.url(), target.url());
    long b2 = b.write("cart", 2, "f", "b2");
    Conditions.await(
        "b2 applied on the new master",
        () -> "2".equals(version(target, movesUser, "cart")),
        Duration.ofSeconds(5));
    resume(replica);
    assertTrue(a.answerTo(a3).hasAck(), "the user who stayed is confirmed by its replica");
    ServerFrame answer = b.answerTo(b2);
    assertTrue(
        answer.hasError(),
        "b2 is on the new master only, whose replica is paused: not durable, yet " + answer);
    assertEquals(ErrorCode.OUTCOME_UNKNOWN, answer.getError().getCode(), answer.toString());
  }
}
