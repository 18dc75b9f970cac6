package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.CloseCode;
import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.handoff.server.ReplicatedCluster.Instance;
import io.handoff.server.engine.StoreLimits;
import io.handoff.server.engine.redis.RedisEngine;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A Redis Cluster master hung (SIGSTOP) long enough for its replica to be promoted, under the
 * node's line of resumes, which keys its "one at a time while timing out" state by master: while
 * the master hangs its users' resumes go one at a time; once its replica is promoted and the node's
 * topology shows it, the same users' resumes go to the new master at full width, and the old
 * master's state is dropped (it owns no slots); when the old master, back as a replica, is made
 * master again, its users' resumes are not held back by the state of its earlier hang. Resumes of
 * users on the other masters go on at full width throughout, and no acked write of a load on
 * another node (durable acks) is lost.
 *
 * <p>"Full width" is seen, not assumed: the shard's master is paused for writes ({@code CLIENT
 * PAUSE WRITE}, which holds the resume scripts) while several Hellos of its users are sent, and
 * every one of them must reach the store at once (its session registered while the others are held
 * there) and be welcomed once the pause ends; a line holding the shard back refuses all but one at
 * once. The replica is kept from failing over ({@code cluster-replica-no-failover}) until the test
 * has seen the hung master's resumes held back, then let go, and the Cluster promotes it itself.
 */
class ClusterFailoverResumeLineTest {
  /** Hellos sent at once to show a shard's resumes go at full width. */
  private static final int WIDTH = 4;

  private final Nodes nodes = new Nodes();

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  /**
   * The rule the line drops a master's state by, in the default run: a master killed and failed
   * over, still listed by the topology (flagged failed, no slots), is no shard of the store.
   */
  @Test
  void aMasterFailedOverIsNoShardOnceItsReplicaOwnsItsSlots() throws Exception {
    ReplicatedCluster cluster = nodes.add(ReplicatedCluster.start());
    RedisEngine engine =
        nodes.add(
            RedisEngine.connectCluster(
                cluster.seeds(), nodes.prefix, StoreLimits.builder().build()));
    String user = "ann";
    Instance master = cluster.masterOf(SlotHash.getSlot(user));
    Instance replica = cluster.replicaOf(master);
    assertEquals(master.id, engine.shardOf(user));
    assertTrue(engine.hasShard(master.id));

    master.kill();
    ReplicatedCluster.await(replica + " promoted", replica::isMaster, Duration.ofSeconds(30));
    Conditions.await(
        "the engine's topology names the promoted replica the master of the user's slot",
        () -> replica.id.equals(engine.shardOf(user)),
        Duration.ofSeconds(30),
        ReplicatedCluster.POLL);
    assertTrue(engine.hasShard(replica.id));
    assertFalse(
        engine.hasShard(master.id),
        "the killed master, listed failed with no slots, is still a shard of the store");
  }

  // Tagged for its length: a private six-process Cluster, a hang, a failover and a failback.
  @Test
  @Tag("fault")
  void afterAHungMasterIsFailedOverItsUsersResumeAtFullWidthOnTheNewMaster() throws Exception {
    ReplicatedCluster cluster = nodes.add(ReplicatedCluster.start());
    // The other shards serve while one master is failed and not yet replaced (else the whole
    // Cluster answers CLUSTERDOWN from the moment the hung master is marked failed).
    for (Instance i : cluster.instances) {
      cluster.call(i, r -> r.configSet("cluster-require-full-coverage", "no"));
    }
    StoreLimits limits =
        StoreLimits.builder().historyLength(StoreTruth.HISTORY).durableAcks(1).build();
    // n1's line is the one watched; the load runs on n2, so that its reconnects never share it.
    HandoffServer n1 = nodes.cluster(cluster.seeds(), "n1", limits);
    HandoffServer n2 = nodes.cluster(cluster.seeds(), "n2", limits);
    // The master hung is none that holds a node's pub/sub connection: its subscriptions go on.
    ReplicatedCluster.await(
        "both nodes' pub/sub connections subscribed",
        () -> cluster.instances.stream().mapToInt(i -> subscribers(cluster, i)).sum() >= 2,
        Duration.ofSeconds(30));
    Instance hung = null;
    for (Instance i : cluster.instances) {
      if (i.isMaster() && subscribers(cluster, i) == 0) {
        hung = i;
        break;
      }
    }
    assertTrue(hung != null, "a master without a node's pub/sub connection");
    Instance replica = cluster.replicaOf(hung);
    Deque<String> onHung = new ArrayDeque<>();
    Deque<String> elsewhere = new ArrayDeque<>();
    Set<Instance> otherMasters = new LinkedHashSet<>();
    for (int u = 0; onHung.size() < 20 || elsewhere.size() < 20; u++) {
      String user = "line-" + u;
      Instance master = cluster.masterOf(SlotHash.getSlot(user));
      if (master == hung) {
        onHung.add(user);
      } else {
        elsewhere.add(user);
        otherMasters.add(master);
      }
    }
    List<String> loadUsers = List.of(onHung.pop(), onHung.pop(), elsewhere.pop(), elsewhere.pop());
    Set<String> loadElsewhere = Set.of(loadUsers.get(2), loadUsers.get(3));
    FaultLoad load =
        nodes.add(new FaultLoad(FaultLoad.urls(n2), loadUsers, 2, Duration.ofMillis(20), 32));
    load.start();
    load.awaitMoreAcked(200, Duration.ofSeconds(60));
    assertEquals(hung.id, n1.engine().shardOf(onHung.peek()), "a shard is its master's node id");

    // The hang: the replica may not take over until the test lets it.
    Instance h = hung;
    cluster.call(replica, r -> r.configSet("cluster-replica-no-failover", "yes"));
    String hungPid = nodes.pause(Long.toString(hung.pid()));
    long pausedAt = System.nanoTime();
    HeldResumes.timedOut(nodes, n1, onHung.pop(), "laptop");
    assertEquals(1, n1.stats().resumesFailed.sum());
    assertEquals(1, n1.stats().resumeShardsStalled(), "the hung master's resumes held back");
    Conditions.await(
        "the laptop's session gone from n1",
        () -> n1.hub().sessions() == 0,
        Duration.ofSeconds(10));
    TestDevice tablet = HeldResumes.resumeSent(nodes, n1, onHung.pop(), "tablet");
    for (int i = 0; i < 3; i++) {
      TestDevice d = nodes.add(TestDevice.connect(n1.port(), TestServer.token(onHung.pop(), "w")));
      d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
      assertEquals(CloseCode.UNAVAILABLE.code(), d.awaitClose());
    }
    assertFalse(tablet.isClosed(), "precondition: the tablet's resume still held by the hang");
    assertEquals(3, n1.stats().resumesRefused.sum(), "the hung master's others refused at once");
    assertEquals(CloseCode.UNAVAILABLE.code(), tablet.awaitClose(), "the held resume timed out");
    assertEquals(1, n1.stats().resumeShardsStalled());
    atFullWidth(n1, otherMasters, take(elsewhere, WIDTH), "while a master hangs");
    load.changed.await(
        "a write of a user on another master acked while the master hangs",
        () -> load.firstAckAfterMillis(pausedAt, loadElsewhere) >= 0,
        Duration.ofSeconds(30));

    // The promotion, by the Cluster itself, and the node's topology following it.
    cluster.call(replica, r -> r.configSet("cluster-replica-no-failover", "no"));
    ReplicatedCluster.await(replica + " promoted", replica::isMaster, Duration.ofSeconds(30));
    String user = onHung.peek();
    Conditions.await(
        "n1's topology names the promoted replica the master of the shard's users",
        () -> replica.id.equals(n1.engine().shardOf(user)),
        Duration.ofSeconds(30),
        ReplicatedCluster.POLL);
    long refused = n1.stats().resumesRefused.sum();
    atFullWidth(n1, Set.of(replica), take(onHung, WIDTH), "on the promoted replica");
    atFullWidth(n1, otherMasters, take(elsewhere, WIDTH), "after the failover");
    assertEquals(refused, n1.stats().resumesRefused.sum());
    assertEquals(
        0,
        n1.stats().resumeShardsStalled(),
        "the old master, failed over and owning no slots, held back by nothing");

    // The old master comes back as the new one's replica, and is made master again.
    nodes.resume(hungPid);
    ReplicatedCluster.await(h + " is a replica", () -> !h.isMaster(), Duration.ofSeconds(60));
    cluster.awaitHealthy();
    cluster.call(h, r -> r.clusterFailover(false));
    ReplicatedCluster.await(h + " master again", h::isMaster, Duration.ofSeconds(30));
    Conditions.await(
        "n1's topology names the old master the master of the shard's users again",
        () -> h.id.equals(n1.engine().shardOf(user)),
        Duration.ofSeconds(30),
        ReplicatedCluster.POLL);
    atFullWidth(n1, Set.of(h), take(onHung, WIDTH), "on the old master, master again");
    assertEquals(refused, n1.stats().resumesRefused.sum(), "no resume refused since the hang");

    // Nothing acked was lost.
    cluster.awaitHealthy();
    load.awaitMoreAcked(200, Duration.ofSeconds(90));
    load.stopAndSettle(Duration.ofSeconds(90));
    StoreTruth truth =
        StoreTruth.read(n2.engine().store(), load).checkConvergence(load, Duration.ofSeconds(60));
    System.out.printf(
        "ClusterFailoverResumeLineTest: %s; n1 refused %d, failed %d; closes by code %s%n",
        truth,
        n1.stats().resumesRefused.sum(),
        n1.stats().resumesFailed.sum(),
        load.closesByCode());
    assertEquals(0, truth.lost, "acked writes missing after the failover: " + truth);
    assertEquals(0, truth.diverged, truth.problemsSample());
    assertEquals(0, truth.olderFinal, truth.problemsSample());
    assertEquals(0, truth.reordered, truth.problemsSample());
    assertEquals(0, truth.duplicated, truth.problemsSample());
    assertEquals(0, truth.notAppliedButApplied, truth.problemsSample());
    assertEquals(0, truth.pending);
  }

  /**
   * Hellos of {@code users} sent to {@code node} while {@code masters}, those of their slots, hold
   * scripts ({@code CLIENT PAUSE WRITE}): each must reach the store while the others are held there
   * (its session registered, none closed), and be welcomed once the masters run again.
   */
  private void atFullWidth(
      HandoffServer node, Set<Instance> masters, List<String> users, String when) throws Exception {
    Conditions.await(
        "every earlier session of the node gone",
        () -> node.hub().sessions() == 0,
        Duration.ofSeconds(10));
    long refused = node.stats().resumesRefused.sum();
    List<StatefulRedisConnection<String, String>> controls = new ArrayList<>();
    for (Instance m : masters) {
      controls.add(nodes.control(m.url()));
    }
    List<TestDevice> devices = new ArrayList<>();
    try {
      for (StatefulRedisConnection<String, String> c : controls) {
        client(c, "PAUSE", "10000", "WRITE");
      }
      for (String u : users) {
        TestDevice d = nodes.add(TestDevice.connect(node.port(), TestServer.token(u, "phone")));
        d.send(ClientFrame.newBuilder().setHello(Hello.getDefaultInstance()));
        devices.add(d);
      }
      Conditions.await(
          users.size() + " resumes sent to the store at once, " + when,
          () ->
              node.hub().sessions() == users.size() || devices.stream().anyMatch(d -> d.isClosed()),
          Duration.ofSeconds(10));
    } finally {
      for (StatefulRedisConnection<String, String> c : controls) {
        client(c, "UNPAUSE");
      }
    }
    for (TestDevice d : devices) {
      ServerFrame welcome = null;
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (welcome == null && !d.isClosed() && System.nanoTime() < deadline) {
        ServerFrame f = d.poll(50);
        if (f != null && f.hasWelcome()) {
          welcome = f;
        }
      }
      assertTrue(
          welcome != null,
          "a resume "
              + when
              + " was "
              + (d.isClosed() ? "closed " + d.awaitClose() : "not answered")
              + " ("
              + (node.stats().resumesRefused.sum() - refused)
              + " of "
              + users.size()
              + " refused)");
    }
    assertEquals(refused, node.stats().resumesRefused.sum(), "none refused " + when);
    for (TestDevice d : devices) {
      d.close();
    }
  }

  private static void client(StatefulRedisConnection<String, String> c, String... args) {
    CommandArgs<String, String> a = new CommandArgs<>(StringCodec.UTF8);
    for (String arg : args) {
      a.add(arg);
    }
    c.sync().dispatch(CommandType.CLIENT, new StatusOutput<>(StringCodec.UTF8), a);
  }

  /** Clients of {@code i} subscribed to a channel: a node's pub/sub connection. */
  private static int subscribers(ReplicatedCluster cluster, Instance i) {
    int n = 0;
    for (String line : cluster.call(i, r -> r.clientList()).split("\n")) {
      for (String field : line.trim().split(" ")) {
        if ((field.startsWith("sub=") || field.startsWith("psub=")) && !field.endsWith("=0")) {
          n++;
          break;
        }
      }
    }
    return n;
  }

  private static List<String> take(Deque<String> users, int n) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(users.pop());
    }
    return out;
  }
}
