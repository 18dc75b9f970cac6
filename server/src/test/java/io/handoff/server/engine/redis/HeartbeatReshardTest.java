package io.handoff.server.engine.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.handoff.server.Conditions;
import io.handoff.server.RedisClusterProcess;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The watch's two heartbeat channels sit on two masters; a reshard of the one slot the second sits
 * on (CLUSTER SETSLOT ... NODE on every master: heartbeat channels hold no keys) puts both on one
 * master, and the watch then picks a new channel on another master, so that a hang of the node its
 * connection is on is noticed again. A private Cluster of three masters; the watch ticks every 100
 * ms.
 */
class HeartbeatReshardTest {
  private final RedisClusterProcess.Private cluster = RedisClusterProcess.startPrivate();
  private final RedisClusterClient client =
      RedisClusterClient.create(cluster.seeds().stream().map(RedisURI::create).toList());
  private RedisBroker broker;

  @AfterEach
  void tearDown() {
    if (broker != null) {
      broker.close();
    }
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    cluster.close();
  }

  @Test
  void heartbeatsMovedOntoOneMasterByAReshardArePutOnTwoAgain() throws Exception {
    StatefulRedisClusterConnection<byte[], byte[]> commands =
        client.connect(ByteArrayCodec.INSTANCE);
    broker =
        new RedisBroker(
            client.connectPubSub(ByteArrayCodec.INSTANCE),
            commands.async(),
            new RedisKeys("test-" + UUID.randomUUID() + ":"),
            client.getResources().eventExecutorGroup());
    NodePubSub open = new NodePubSub(client, RedisURI.create(cluster.seeds().get(0)));
    broker.watchPath(open, Duration.ofMillis(100), Duration.ofSeconds(3));
    List<byte[]> before = broker.heartbeatChannels();
    assertEquals(2, before.size());
    String first = open.masterOf(before.get(0));
    assertNotEquals(first, open.masterOf(before.get(1)), "two masters at start");

    int slot = SlotHash.getSlot(before.get(1));
    for (String seed : cluster.seeds()) {
      RedisClient node = RedisClient.create(seed);
      try (var c = node.connect()) {
        c.sync().clusterSetSlotNode(slot, first);
      } finally {
        node.shutdown(Duration.ZERO, Duration.ofSeconds(1));
      }
    }
    client.refreshPartitions();
    assertEquals(first, open.masterOf(before.get(1)), "the reshard put both on one master");

    Conditions.await(
        "the heartbeats sit on two masters again",
        () -> !sameMaster(open, broker.heartbeatChannels()),
        Duration.ofSeconds(10),
        Duration.ofMillis(20));
    assertEquals(2, broker.heartbeatChannels().size());
  }

  private static boolean sameMaster(NodePubSub open, List<byte[]> beats) {
    return beats.size() < 2 || open.masterOf(beats.get(0)).equals(open.masterOf(beats.get(1)));
  }
}
