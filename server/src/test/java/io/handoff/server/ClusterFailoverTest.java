package io.handoff.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.handoff.protocol.v1.ClientFrame;
import io.handoff.protocol.v1.FollowSpec;
import io.handoff.protocol.v1.Hello;
import io.handoff.protocol.v1.ServerFrame;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A Redis Cluster master killed (kill -9) under a device that keeps writing: once its replica is
 * promoted, the shard's users are served again within 2 s. A Cluster of this test's own, three
 * primaries with a replica each and a 1 s node timeout; a fault test (six processes, a failover).
 */
@Tag("fault")
class ClusterFailoverTest {
  private static final Duration SERVED_AGAIN_WITHIN = Duration.ofSeconds(2);

  private final Nodes nodes = new Nodes();
  private final RedisClusterProcess.Private cluster =
      nodes.add(RedisClusterProcess.startPrivateWithReplicas());

  @AfterEach
  void tearDown() {
    nodes.close();
  }

  private static String info(StatefulRedisConnection<String, String> c, String section) {
    return c.sync().info(section);
  }

  private static String field(String info, String name) {
    for (String line : info.split("\r?\n")) {
      if (line.startsWith(name + ":")) {
        return line.substring(name.length() + 1).trim();
      }
    }
    throw new AssertionError("no " + name + " in " + info);
  }

  /** The URL of the primary (as started) that owns {@code user}'s slot. */
  private String primaryOf(String user) {
    try (RedisClient client = RedisClient.create(cluster.seeds().get(0));
        StatefulRedisConnection<String, String> c = client.connect()) {
      long slot = c.sync().clusterKeyslot("{" + user + "}");
      for (String line : c.sync().clusterNodes().split("\n")) {
        String[] f = line.trim().split(" ");
        if (f.length < 9 || !f[2].contains("master")) {
          continue;
        }
        for (int i = 8; i < f.length; i++) {
          String[] range = f[i].split("-");
          long from = Long.parseLong(range[0]);
          long to = range.length > 1 ? Long.parseLong(range[1]) : from;
          if (slot >= from && slot <= to) {
            return "redis://" + f[1].substring(0, f[1].indexOf('@'));
          }
        }
      }
    }
    throw new AssertionError("no master owns the slot of " + user);
  }

  private static long write(TestDevice d, long seq) {
    return d.send(ClientFrame.newBuilder().setWrite(Writes.numbered("cart", seq)));
  }

  /** The Ack or Error answering {@code request}, or null if none comes within {@code bound}. */
  private static ServerFrame answer(TestDevice d, long request, Duration bound) {
    long deadline = System.nanoTime() + bound.toNanos();
    while (System.nanoTime() < deadline && !d.isClosed()) {
      ServerFrame f = d.poll(100);
      if (f != null && (f.hasAck() || f.hasError()) && f.getRequestId() == request) {
        return f;
      }
    }
    return null;
  }

  private static TestDevice writer(HandoffServer node, String user) {
    TestDevice d = TestDevice.connect(node.port(), TestServer.token(user, "phone"));
    // Write-only: every ack comes from the store's answer, not from the node's pub/sub stream.
    d.hello(Hello.newBuilder().setFollow(FollowSpec.getDefaultInstance()).build());
    return d;
  }

  @Test
  void afterAMasterIsKilledItsUsersAreServedAgainWithinTwoSecondsOfThePromotion() throws Exception {
    HandoffServer node = nodes.cluster(cluster.seeds(), "a");
    String user = "ann";
    String primary = primaryOf(user);
    String replica = cluster.replicas().get(cluster.seeds().indexOf(primary));
    String primaryPid;
    try (RedisClient client = RedisClient.create(primary);
        StatefulRedisConnection<String, String> c = client.connect()) {
      primaryPid = field(info(c, "server"), "process_id");
    }
    TestDevice device = nodes.add(writer(node, user));
    long seq = 0;
    for (int i = 0; i < 5; i++) {
      ServerFrame a = answer(device, write(device, ++seq), Duration.ofSeconds(10));
      assertTrue(a != null && a.hasAck(), "acked before the fault: " + a);
    }

    AtomicLong promotedAt = new AtomicLong();
    try (RedisClient client = RedisClient.create(replica);
        StatefulRedisConnection<String, String> watch = client.connect()) {
      assertEquals("slave", field(info(watch, "replication"), "role"));
      Process kill = new ProcessBuilder("kill", "-9", primaryPid).inheritIO().start();
      assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
      Thread watcher =
          new Thread(
              () -> {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (System.nanoTime() < deadline) {
                  if (field(info(watch, "replication"), "role").equals("master")) {
                    promotedAt.set(System.nanoTime());
                    return;
                  }
                  LockSupport.parkNanos(5_000_000);
                }
              },
              "promotion-watch");
      watcher.start();

      long servedAt = 0;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (servedAt == 0 && System.nanoTime() < deadline) {
        seq++;
        ServerFrame a = null;
        while (System.nanoTime() < deadline && (a == null || !a.hasAck())) {
          if (device.isClosed()) {
            device = nodes.add(writer(node, user));
          }
          // Re-sent with its number until acked: idempotency makes that safe.
          a = answer(device, write(device, seq), Duration.ofSeconds(15));
        }
        long p = promotedAt.get();
        if (a != null && a.hasAck() && p != 0 && System.nanoTime() > p) {
          servedAt = System.nanoTime();
        }
      }
      watcher.join(TimeUnit.SECONDS.toMillis(60));
      assertNotEquals(0, promotedAt.get(), "the replica was promoted");
      assertNotEquals(0, servedAt, "a write was acked after the promotion");
      long millis = TimeUnit.NANOSECONDS.toMillis(servedAt - promotedAt.get());
      assertTrue(
          millis <= SERVED_AGAIN_WITHIN.toMillis(),
          "served again " + millis + " ms after the promotion");
    }
  }
}
