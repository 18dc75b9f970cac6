package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.bus.v1.UserSignal;
import io.handoff.server.Conditions;
import io.handoff.server.RedisClusterProcess;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.codec.ByteArrayCodec;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * After a reshard put both heartbeat channels on the master the shared pub/sub connection is on,
 * and the watch put one on another master again, a SIGSTOP of that master is noticed: the
 * connection moves and a user's signal is heard again. The Cluster is slow to fail a node (5 min),
 * so only the watch can move the connection.
 */
@Tag("fault")
class HeartbeatReshardHangFaultTest {
  private final RedisClusterProcess.Private cluster =
      RedisClusterProcess.startPrivate(Duration.ofMinutes(5));
  private final RedisClusterClient client =
      RedisClusterClient.create(cluster.seeds().stream().map(RedisURI::create).toList());
  private final RedisClient nodes = RedisClient.create();
  private RedisBroker broker;
  private String stopped;

  @AfterEach
  void tearDown() throws Exception {
    if (stopped != null) {
      kill("-CONT", stopped);
    }
    if (broker != null) {
      broker.close();
    }
    nodes.shutdown(Duration.ZERO, Duration.ofSeconds(1));
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    cluster.close();
  }

  @Test
  void aHangOfTheMasterBothHeartbeatsWereReshardedOntoIsNoticed() throws Exception {
    client.refreshPartitions();
    RedisKeys keys = new RedisKeys("test-" + UUID.randomUUID() + ":");
    NodePubSub open = new NodePubSub(client, RedisURI.create(cluster.seeds().get(0)));
    String user = "u";
    // The user's master and the connection's differ: the hang is only the connection's node's.
    String userMaster = open.masterOf(keys.channel(user));
    RedisURI holder = null;
    String holderId = null;
    for (var n : client.getPartitions()) {
      if (n.is(io.lettuce.core.cluster.models.partitions.RedisClusterNode.NodeFlag.UPSTREAM)
          && !n.getNodeId().equals(userMaster)) {
        holder = n.getUri();
        holderId = n.getNodeId();
      }
    }
    broker =
        new RedisBroker(
            NodePubSub.open(nodes, holder),
            client.connect(ByteArrayCodec.INSTANCE).async(),
            keys,
            client.getResources().eventExecutorGroup());
    HeardSignals listener = new HeardSignals();
    broker.subscribe(user, listener).ready().get(10, TimeUnit.SECONDS);
    broker.watchPath(open, Duration.ofMillis(100), Duration.ofMillis(500));
    for (byte[] beat : broker.heartbeatChannels()) {
      if (!holderId.equals(open.masterOf(beat))) {
        setSlot(SlotHash.getSlot(beat), holderId);
      }
    }
    client.refreshPartitions();
    Conditions.await(
        "the heartbeats put on two masters again",
        () -> {
          List<byte[]> beats = broker.heartbeatChannels();
          return !open.masterOf(beats.get(0)).equals(open.masterOf(beats.get(1)));
        },
        Duration.ofSeconds(10),
        Duration.ofMillis(20));

    stopped = pid(holder);
    kill("-STOP", stopped);
    broker.signal(user, UserSignal.newBuilder().setOriginNode("elsewhere").build());
    long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    boolean heard = false;
    while (!heard && System.nanoTime() < until) {
      broker.signal(user, UserSignal.newBuilder().setOriginNode("elsewhere").build());
      heard = listener.signals.tryAcquire(500, TimeUnit.MILLISECONDS);
    }
    assertTrue(heard, "the watch moved the connection off the stopped master");
  }

  private void setSlot(int slot, String nodeId) {
    for (String seed : cluster.seeds()) {
      try (var c = nodes.connect(RedisURI.create(seed))) {
        c.sync().clusterSetSlotNode(slot, nodeId);
      }
    }
  }

  private String pid(RedisURI uri) {
    try (var c = nodes.connect(uri)) {
      for (String line : c.sync().info("server").split("\r?\n")) {
        if (line.startsWith("process_id:")) {
          return line.substring("process_id:".length()).trim();
        }
      }
    }
    throw new AssertionError("no process_id in INFO server of " + uri);
  }

  private static void kill(String sig, String pid) throws Exception {
    Process kill = new ProcessBuilder("kill", sig, pid).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
    assertEquals(0, kill.exitValue(), "kill " + sig + " " + pid);
  }
}
