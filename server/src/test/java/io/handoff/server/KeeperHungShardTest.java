package io.handoff.server;

import static io.handoff.server.RedisSignals.pid;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.server.handoff.HandoffLimits;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * One hung shard of a Redis Cluster (SIGSTOP of its only process) must not stop the presence keeper
 * from keeping the users of the other shards: their devices are connected to a live node and their
 * shards answer, so their presence entries must not lapse. On a private Cluster and the real clock:
 * what is measured is how long the keeper's calls to the hung shard keep it from the others, and
 * that is real time, not the node's: the keeper waits for a batch on its thread (at most its share
 * of the slice), and a call to the hung shard ends at the store's command timeout. On a {@code
 * FakeScheduler} neither moves the node's time, so every refresh would be exactly on time even with
 * the keeper held by each hung call until it timed out. The bound is the promise itself: an entry
 * read past its deadline.
 */
class KeeperHungShardTest {
  // Entries three fifths ahead (1.8 s); a slice every 50 ms; a call to the hung shard times out
  // after 2 s.
  private static final Duration PRESENCE_TTL = Duration.ofSeconds(3);
  private static final int HUNG_USERS = 3;

  private final Nodes nodes = new Nodes();
  private final RedisClusterProcess.Private cluster = nodes.add(RedisClusterProcess.startPrivate());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  @Test
  void aHungShardDoesNotLetTheOtherShardsUsersPresenceLapse() throws Exception {
    HandoffServer node =
        nodes.cluster(
            cluster.seeds(),
            "a",
            b -> b.handoffLimits(HandoffLimits.builder().presenceTtl(PRESENCE_TTL).build()));

    // Users on the shard to hang, and one user on another shard.
    RedisURI hung = RedisURI.create(cluster.seeds().get(cluster.seeds().size() - 1));
    RedisClusterProcess.Split split = cluster.split(HUNG_USERS);
    List<String> onHung = split.onLastSeed();
    String healthy = split.elsewhere();
    RedisURI healthyShard = split.elsewhereMaster();
    List<String> users = new ArrayList<>(onHung);
    users.add(healthy);
    for (String user : users) {
      TestDevice d = nodes.add(TestDevice.connect(node.port(), TestServer.token(user, "phone")));
      assertTrue(d.hello().hasWelcome(), user + "'s phone is welcomed");
    }

    byte[] key = (nodes.prefix + "{" + healthy + "}:pr").getBytes(StandardCharsets.UTF_8);
    byte[] field = "phone".getBytes(StandardCharsets.UTF_8);
    RedisClient client = RedisClient.create(healthyShard);
    try (StatefulRedisConnection<byte[], byte[]> store =
        client.connect(io.lettuce.core.codec.ByteArrayCodec.INSTANCE)) {
      nodes.pause(pid(hung));

      // The healthy user's phone must be refreshed again and again, never past its deadline.
      long[] refreshes = {0};
      long[] lastDeadline = {deadline(store, key, field)};
      String user = healthy;
      Conditions.await(
          "five refreshes of " + user + "'s phone while a shard hangs",
          () -> {
            long now = System.currentTimeMillis();
            long d = deadline(store, key, field);
            if (d < now) {
              throw new AssertionError(
                  user
                      + "'s phone, connected to a live node on a shard that answers, read offline "
                      + (now - d)
                      + " ms past its deadline after "
                      + refreshes[0]
                      + " refreshes while another shard hung");
            }
            if (d != lastDeadline[0]) {
              refreshes[0]++;
              lastDeadline[0] = d;
            }
            return refreshes[0] >= 5;
          },
          Duration.ofSeconds(60),
          Duration.ofMillis(5));
    } finally {
      client.shutdown();
    }
  }

  /** The deadline of {@code field}'s presence entry at {@code key}: "on|conn|seen|deadline". */
  private static long deadline(
      StatefulRedisConnection<byte[], byte[]> store, byte[] key, byte[] field) {
    byte[] v = store.sync().hget(key, field);
    assertNotNull(v, "no presence entry");
    String s = new String(v, StandardCharsets.UTF_8);
    return Long.parseLong(s.substring(s.lastIndexOf('|') + 1));
  }
}
